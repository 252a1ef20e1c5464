import { describe, expect, it, vi } from "vitest";
import { newHolderId } from "./holder-id.js";

describe("newHolderId", () => {
  it("never repeats within a process", () => {
    const ids = new Set(Array.from({ length: 100_000 }, () => newHolderId()));
    expect(ids.size).toBe(100_000);
  });

  it("gives another process (a fresh load of the module) ids of its own", async () => {
    const mine = newHolderId();
    vi.resetModules();
    const other = (await import("./holder-id.js")).newHolderId();
    expect(other).not.toBe(mine);
    // The counters of both start near zero; the prefixes are what tell them apart.
    expect(other.split(".")[0]).not.toBe(mine.split(".")[0]);
  });
});
