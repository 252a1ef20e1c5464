import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cpuSample, memoryParts, memorySample, profileStart, profileStop, watchCollections } from "./ipc.js";
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

  it("stop counting at a memory sample, after adding what came before it, until the next cpu sample", async () => {
    watchCollections();
    const before = cpuSample().heapAllocatedBytes;
    const kept: number[][] = [];
    for (let i = 0; i < 10_000; i++) kept.push(new Array<number>(1000).fill(i + 0.5));
    await memorySample();
    // 80 MB more after the memory sample: not recorded, so the profiler's record of collections
    // cannot grow through a soak, which samples memory and never CPU.
    for (let i = 0; i < 10_000; i++) kept.push(new Array<number>(1000).fill(i + 0.25));
    const allocated = cpuSample().heapAllocatedBytes - before;
    expect(kept[20_000 - 1]![999]).toBe(10_000 - 0.75);
    expect(allocated).toBeGreaterThanOrEqual(80_000_000);
    expect(allocated).toBeLessThan(120_000_000);
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

describe("bench children's memory by what holds it", () => {
  const MiB = 1024 * 1024;
  const rollup = (rssKb: number, anonymousKb: number): string =>
    `55d0c0a00000-7ffc1e5f3000 ---p 00000000 00:00 0 [rollup]\nRss:  ${rssKb} kB\nPss:  ${rssKb} kB\nAnonymous:  ${anonymousKb} kB\nSwap:  0 kB\n`;

  it("splits the RSS into files, the V8 heap, ArrayBuffers and the other anonymous memory", () => {
    expect(memoryParts(rollup(200 * 1024, 150 * 1024), 60 * MiB, 20 * MiB)).toEqual({
      files: 50 * MiB,
      v8Heap: 60 * MiB,
      arrayBuffers: 20 * MiB,
      otherNative: 70 * MiB,
    });
  });

  it("never reports other memory below zero, and nothing when Linux did not say", () => {
    expect(memoryParts(rollup(100 * 1024, 40 * 1024), 30 * MiB, 20 * MiB)?.otherNative).toBe(0);
    expect(memoryParts("Rss: 1000 kB\n", 0, 0)).toBeUndefined();
  });

  it.runIf(process.platform === "linux")("splits a real process's smaps_rollup, and counts a resident ArrayBuffer as one", () => {
    // Read in a process of its own that does nothing else: in this worker a collection between two
    // readings could hand back more memory than the buffer takes, and the RSS would seem to shrink.
    const script = `
      const { readFileSync } = require("node:fs");
      const sample = () => ({ smaps: readFileSync("/proc/self/smaps_rollup", "latin1"), ...process.memoryUsage() });
      const before = sample();
      // Written through, so every page is resident and the C allocator hands it out now.
      const held = new Uint8Array(${64 * MiB}).fill(7);
      const after = sample();
      process.stdout.write(JSON.stringify({ before, after, last: held[held.length - 1] }));
    `;
    type Sample = { smaps: string; rss: number; arrayBuffers: number };
    const { before, after, last } = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })) as {
      before: Sample;
      after: Sample;
      last: number;
    };
    expect(last).toBe(7);
    const rssOf = (s: Sample): number => Number(/^Rss:\s+(\d+) kB/m.exec(s.smaps)![1]) * 1024;
    const split = (s: Sample) => memoryParts(s.smaps, 0, s.arrayBuffers)!;
    for (const s of [before, after]) {
      expect(split(s).files).toBeGreaterThan(0);
      // Files and anonymous memory add up to the RSS, and the RSS Node reports a moment later agrees.
      expect(split(s).files + split(s).arrayBuffers + split(s).otherNative).toBe(rssOf(s));
      expect(Math.abs(rssOf(s) - s.rss)).toBeLessThan(4 * MiB);
    }
    expect(rssOf(after) - rssOf(before)).toBeGreaterThanOrEqual(60 * MiB);
    // The buffer is counted once, as an ArrayBuffer, not also as other native memory.
    // (Less the few bytes of the file reads' own buffers, freed in between.)
    expect(split(after).arrayBuffers).toBeGreaterThanOrEqual(64 * MiB);
    expect(split(after).arrayBuffers - split(before).arrayBuffers).toBeGreaterThan(63 * MiB);
    expect(split(after).otherNative - split(before).otherNative).toBeLessThan(8 * MiB);
  });

  it.runIf(process.platform === "linux")("samples this process's memory with its V8 heap and peak", async () => {
    const sample = await memorySample();
    expect(sample.parts!.v8Heap).toBeGreaterThan(0);
    expect(sample.peakRss).toBeGreaterThanOrEqual(sample.rss);
  });
});
