import { describe, expect, it } from "vitest";
import { percentile, summarize } from "./stats.js";

describe("percentile", () => {
  const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);

  it("is nearest-rank: p50 of 1..100 is 50, p99 is 99, p100 is the max", () => {
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile(sorted, 100)).toBe(100);
  });

  it("returns the smallest sample for p0 and clamps out-of-range p", () => {
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile(sorted, -5)).toBe(1);
    expect(percentile(sorted, 250)).toBe(100);
  });

  it("never interpolates between samples", () => {
    expect(percentile([10, 20], 50)).toBe(10);
    expect(percentile([10, 20], 51)).toBe(20);
    expect(percentile([7], 99)).toBe(7);
  });

  it("is NaN without samples", () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe("summarize", () => {
  it("sorts its input and reports count, mean, percentiles and max", () => {
    const s = summarize(Float64Array.from([5, 1, 4, 2, 3]));
    expect(s).toEqual({ count: 5, mean: 3, p50: 3, p90: 5, p99: 5, max: 5 });
  });

  it("sorts numerically, not as text", () => {
    expect(summarize(Float64Array.from([100, 9, 20])).p50).toBe(20);
  });
});
