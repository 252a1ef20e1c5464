import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cpuSample, profileStart, profileStop, watchCollections } from "./ipc.js";
import type { CpuProfile } from "./profile.js";

describe("bench children's collection pauses", () => {
  it("add up while garbage is collected", async () => {
    watchCollections();
    const before = cpuSample().gcPauseUs;
    // Far more short-lived objects than a young generation holds: V8 must scavenge, many times over.
    // Each object is stored, so no compiler can leave it unallocated; each is dropped 1,024 later.
    const ring: Array<{ i: number; s: string }> = new Array(1024);
    for (let i = 0; i < 2_000_000; i++) ring[i % 1024] = { i, s: `x${i}` };
    // Performance entries are delivered after the pauses, in a later turn of the event loop.
    for (let i = 0; i < 50 && cpuSample().gcPauseUs === before; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ring[(2_000_000 - 1) % 1024]!.s).toBe(`x${2_000_000 - 1}`);
    expect(cpuSample().gcPauseUs).toBeGreaterThan(before);
  });

  it("count what the heap allocated, across the collections in between", () => {
    watchCollections();
    const before = cpuSample().heapAllocatedBytes;
    // 20,000 arrays of 1,000 doubles (8 bytes each, with or without pointer compression), at least 8,000 bytes each: 160 MB, many young generations' worth,
    // all kept, so the heap grows from each collection to the next and a count from the wrong base shows.
    const kept: number[][] = [];
    for (let i = 0; i < 20_000; i++) kept.push(new Array<number>(1000).fill(i + 0.5));
    const allocated = cpuSample().heapAllocatedBytes - before;
    expect(kept[20_000 - 1]![999]).toBe(20_000 - 0.5);
    expect(allocated).toBeGreaterThanOrEqual(160_000_000);
    // The arrays and little else: the count does not add up collections twice.
    expect(allocated).toBeLessThan(200_000_000);
  });
});

describe("bench children's CPU profiles", () => {
  it("sample this thread between start and stop and land in the file named", async () => {
    const path = join(mkdtempSync(join(tmpdir(), "bench-profile-")), "window.cpuprofile");
    await profileStart({ intervalUs: 100 });
    await expect(profileStart({ intervalUs: 100 })).rejects.toThrow(/already/);
    let x = 0;
    const until = performance.now() + 100;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    await profileStop({ path });
    await expect(profileStop({ path })).rejects.toThrow(/no profile/);
    const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
    expect(x).toBeGreaterThan(0);
    // 100 ms at 100 µs: up to a thousand samples; a machine busy with other tests takes fewer, far more than ten.
    expect(profile.samples.length).toBeGreaterThan(10);
    expect(profile.timeDeltas).toHaveLength(profile.samples.length);
  });
});
