import { describe, expect, it } from "vitest";
import { readSettings } from "./settings.js";

describe("bench settings: soak", () => {
  it("is off unless BENCH_SOAK_SECONDS is set; slices default to 30 s", () => {
    const s = readSettings({});
    expect(s.soakMs).toBeUndefined();
    expect(s.soakSampleMs).toBe(30_000);
  });

  it("reads both variables in seconds", () => {
    const s = readSettings({ BENCH_SOAK_SECONDS: "600", BENCH_SOAK_SAMPLE_SECONDS: "10" });
    expect([s.soakMs, s.soakSampleMs]).toEqual([600_000, 10_000]);
  });

  it("refuses what is not a positive number", () => {
    expect(() => readSettings({ BENCH_SOAK_SECONDS: "0" })).toThrow(/BENCH_SOAK_SECONDS must be a positive number/);
    expect(() => readSettings({ BENCH_SOAK_SECONDS: "ten" })).toThrow(/BENCH_SOAK_SECONDS/);
    expect(() => readSettings({ BENCH_SOAK_SAMPLE_SECONDS: "-5" })).toThrow(/BENCH_SOAK_SAMPLE_SECONDS/);
  });
});
