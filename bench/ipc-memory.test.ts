/**
 * In a file of its own: vitest runs each file in a fresh process, and the sum below holds only
 * while V8's committed heap is resident, which a test that grew and dropped a big heap first
 * (ipc.test.ts has one) would break.
 */
import { describe, expect, it } from "vitest";
import { memoryParts, memorySample } from "./ipc.js";

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

  it.runIf(process.platform === "linux")("adds up to this process's RSS, and counts a resident ArrayBuffer as one", async () => {
    const before = await memorySample();
    // 64 MB written through, so every page is resident and the C allocator hands it out now.
    const held = new Uint8Array(64 * MiB).fill(7);
    const after = await memorySample();
    expect(held[64 * MiB - 1]).toBe(7);
    const parts = after.parts!;
    const sum = parts.files + parts.v8Heap + parts.arrayBuffers + parts.otherNative;
    // rss and smaps_rollup are read a moment apart: allow for what the process did in between.
    expect(Math.abs(sum - after.rss)).toBeLessThan(16 * MiB);
    expect(parts.arrayBuffers - before.parts!.arrayBuffers).toBeGreaterThanOrEqual(64 * MiB);
    expect(after.rss - before.rss).toBeGreaterThanOrEqual(60 * MiB);
  });
});
