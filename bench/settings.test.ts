import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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

describe("bench settings: targets together", () => {
  it("measures the targets one after the other unless BENCH_TOGETHER is 1 or true", () => {
    expect(readSettings({}).together).toBe(false);
    expect(readSettings({ BENCH_TOGETHER: "0" }).together).toBe(false);
    expect(readSettings({ BENCH_TOGETHER: "1" }).together).toBe(true);
    expect(readSettings({ BENCH_TOGETHER: "true" }).together).toBe(true);
    expect(() => readSettings({ BENCH_TOGETHER: "yes" })).toThrow(/BENCH_TOGETHER must be 1 or 0/);
  });
});

describe("bench settings: the bare proxy's V8 settings", () => {
  it("runs the bare proxy with serve's V8 flags unless BENCH_BASELINE_V8 is node", () => {
    expect(readSettings({}).baselineV8).toBe("serve");
    expect(readSettings({ BENCH_BASELINE_V8: "serve" }).baselineV8).toBe("serve");
    expect(readSettings({ BENCH_BASELINE_V8: " node " }).baselineV8).toBe("node");
    expect(() => readSettings({ BENCH_BASELINE_V8: "defaults" })).toThrow(/BENCH_BASELINE_V8 must be serve or node/);
  });
});

describe("bench settings: another build", () => {
  it("runs the other-build target from the directory BENCH_OTHER_BUILD names", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-other-"));
    mkdirSync(join(dir, "bench"));
    writeFileSync(join(dir, "bench", "switchyard-gateway.js"), "");
    const s = readSettings({ BENCH_TARGETS: "switchyard-governance,other-build", BENCH_OTHER_BUILD: dir });
    expect(s.targets).toEqual(["switchyard-governance", "other-build"]);
    expect(s.otherBuild).toBe(dir);
    expect(readSettings({}).otherBuild).toBeUndefined();
  });

  it("refuses one without the other, and a directory that holds no build", () => {
    expect(() => readSettings({ BENCH_TARGETS: "other-build" })).toThrow(/set BENCH_OTHER_BUILD/);
    expect(() => readSettings({ BENCH_OTHER_BUILD: "/tmp" })).toThrow(/add other-build to BENCH_TARGETS/);
    expect(() => readSettings({ BENCH_TARGETS: "other-build", BENCH_OTHER_BUILD: mkdtempSync(join(tmpdir(), "bench-empty-")) })).toThrow(
      /switchyard-gateway\.js does not exist/,
    );
  });
});

describe("bench settings: profiles", () => {
  it("profiles the measured windows into the directory BENCH_PROFILE names, as an absolute path", () => {
    expect(readSettings({ BENCH_PROFILE: "prof-out" }).profileDir).toBe(resolve("prof-out"));
    expect(readSettings({ BENCH_PROFILE: " " }).profileDir).toBeUndefined();
    expect(readSettings({}).profileDir).toBeUndefined();
  });

  it("records the measured windows with perf into the directory BENCH_PERF names, as an absolute path", () => {
    expect(readSettings({ BENCH_PERF: "perf-out" }).perfDir).toBe(resolve("perf-out"));
    expect(readSettings({ BENCH_PERF: " " }).perfDir).toBeUndefined();
    expect(readSettings({}).perfDir).toBeUndefined();
  });
});
