/**
 * The V8 flags `switchyard serve` sets do what they are there for. A probe in a child process keeps
 * every object one allocation site makes alive, which is what leads V8 to pretenure a site, then
 * lets the site allocate a burst too small to set off a collection and reads which generation the
 * burst went to. Without the flags V8 pretenures the site, so the probe can see pretenuring; with
 * them every burst stays young. A second probe reads the growing factor V8 reports for the old
 * generation's next limit after a full collection: fixed at 3 with the flags.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SERVING_V8_FLAGS } from "./v8-tuning.js";

const PROBE = `
import { setFlagsFromString, getHeapSpaceStatistics } from "node:v8";
for (const flag of JSON.parse(process.argv[1])) setFlagsFromString(flag);
const used = () => {
  const spaces = getHeapSpaceStatistics();
  const of = (name) => spaces.find((s) => s.space_name === name).space_used_size;
  return { old: of("old_space"), young: of("new_space") };
};
function make(i) { return { i, next: null, a: [i] }; }
const keep = [];
const train = (n) => { for (let i = 0; i < n; i++) keep.push(make(i)); };
const landings = [];
train(1_000_000);
for (let round = 0; round < 3; round++) {
  for (let attempt = 0; attempt < 10; attempt++) {
    const burst = new Array(5_000);
    const before = used();
    for (let i = 0; i < burst.length; i++) burst[i] = make(i);
    const after = used();
    keep.push(burst);
    // A collection during the burst moved objects between the generations: not a reading.
    if (after.young < before.young || after.old < before.old) continue;
    landings.push(after.old - before.old > after.young - before.young ? "old" : "young");
    break;
  }
  train(300_000);
}
process.stdout.write(JSON.stringify(landings));
`;

/** Where each round's burst landed, in a fresh node with `flags` set the way tuneV8ForServing sets them. */
function probe(flags: readonly string[]): string[] {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", PROBE, JSON.stringify(flags)], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as string[];
}

describe("tuneV8ForServing", () => {
  it("keeps V8 from allocating a long-lived site's objects straight into the old generation", () => {
    const control = probe([]);
    expect(control).toContain("old");
    const tuned = probe(SERVING_V8_FLAGS);
    expect(tuned.length).toBeGreaterThan(0);
    expect(tuned.every((l) => l === "young")).toBe(true);
  });

  it("fixes the old generation's growing factor at 3, which V8 honours when the flag is set at run time", () => {
    // V8 reports the factor of each new old-generation limit: `[HeapController] Limit: … (3.0)`.
    const factor = (flags: readonly string[]): string => {
      const source = `const { setFlagsFromString } = require("node:v8");
for (const flag of ${JSON.stringify(flags)}) setFlagsFromString(flag);
const keep = [];
for (let i = 0; i < 200000; i++) keep.push({ i });
globalThis.gc();`;
      // A fixed heap ceiling: V8's largest factor depends on it (4.0 from a few GB up), whatever memory the machine has.
      const args = ["--expose-gc", "--max-old-space-size=4096", "--trace-gc-verbose", "-e", source];
      const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const limit = /\[HeapController\] Limit: .*\((\d+\.\d)\)/.exec(r.stdout);
      expect(limit, r.stdout.slice(0, 2000)).not.toBeNull();
      return limit![1]!;
    };
    // Left to itself, V8 picks the factor (its largest, 4.0, before it has timed a collection).
    expect(factor([])).not.toBe("3.0");
    expect(factor(SERVING_V8_FLAGS)).toBe("3.0");
  });

  it("lets TurboFan inline twice the default bytecode into a function, which V8 honours when the flag is set at run time", () => {
    // Six callees of about 200 bytes of bytecode each, called from one function that is then optimised
    // on the spot (natives syntax, so no timing decides what is compiled when): V8's default budget
    // (920 bytes) takes four of them; `--trace-turbo-inlining` names each one inlined into `outer`.
    const source = `const { setFlagsFromString } = require("node:v8");
for (const flag of JSON.parse(process.argv[1])) setFlagsFromString(flag);
const make = (k) => new Function("o", "let s = 0; for (let i = 0; i < o.n; i++) { s += (o.a * i + o.b) % (i + " + k + "); s ^= (o.c | i) + " + k +
  "; s += o.d > i ? o.a : o.b; s -= (o.e + i) * " + k + " % 7; s += o.f ? i : -i; s += (s >> 1) & o.g; s += o.h - i * " + k + "; } return s;");
const fs = [1, 2, 3, 4, 5, 6].map(make);
function outer(o) { return fs[0](o) + fs[1](o) + fs[2](o) + fs[3](o) + fs[4](o) + fs[5](o); }
const o = { n: 3, a: 1, b: 2, c: 3, d: 4, e: 5, f: true, g: 7, h: 8 };
%PrepareFunctionForOptimization(outer);
for (let i = 0; i < 100; i++) outer(o);
%OptimizeFunctionOnNextCall(outer);
outer(o);`;
    const inlined = (flags: readonly string[]): number => {
      const r = spawnSync(process.execPath, ["--allow-natives-syntax", "--trace-turbo-inlining", "-e", source, JSON.stringify(flags)], {
        encoding: "utf8",
        timeout: 60_000,
      });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.split("\n").filter((l) => /^Inlining .* into .*<SharedFunctionInfo outer>/.test(l)).length;
    };
    expect(inlined([])).toBe(4);
    expect(inlined(SERVING_V8_FLAGS)).toBe(6);
  });

  it("runs before the gateway starts, in `switchyard serve` and in the benchmark's gateway", () => {
    for (const file of ["./server.ts", "../../bench/switchyard-gateway.ts"]) {
      const source = readFileSync(fileURLToPath(new URL(file, import.meta.url)), "utf8");
      const tuned = source.indexOf("tuneV8ForServing();");
      expect(tuned, file).toBeGreaterThan(-1);
      expect(tuned, file).toBeLessThan(source.indexOf("startGateway("));
    }
  });
});
