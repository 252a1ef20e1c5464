import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadOtherBuild } from "./codecs-other-build.js";
import { streamTable, type StreamRow } from "./codecs-report.js";
import type { Measurement } from "./codecs-timing.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A build directory whose bench/codecs-cases.js holds `source`. */
function build(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), "codecs-other-"));
  dirs.push(dir);
  mkdirSync(join(dir, "bench"));
  writeFileSync(join(dir, "bench", "codecs-cases.js"), source);
  return dir;
}

describe("BENCH_CODEC_OTHER_BUILD", () => {
  it("is off unless set", async () => {
    expect(await loadOtherBuild({})).toBeUndefined();
    expect(await loadOtherBuild({ BENCH_CODEC_OTHER_BUILD: " " })).toBeUndefined();
  });

  it("loads the other build's stream conversion", async () => {
    const dir = build("export function streamConversionOp(chunks, canonical, client, upstream) { return () => `${client}<-${upstream}:${chunks.length}`; }\n");
    const other = await loadOtherBuild({ BENCH_CODEC_OTHER_BUILD: dir });
    expect(other?.dir).toBe(dir);
    expect(other?.streamConversionOp([Buffer.from("x")], { model: "m", messages: [], stream: true }, "openai-chat", "anthropic")()).toBe(
      "openai-chat<-anthropic:1",
    );
  });

  it("names what is wrong with a directory that is not a build", async () => {
    await expect(loadOtherBuild({ BENCH_CODEC_OTHER_BUILD: join(tmpdir(), "no-such-build-dir") })).rejects.toThrow(/does not exist/);
    const dir = build("export const somethingElse = 1;\n");
    await expect(loadOtherBuild({ BENCH_CODEC_OTHER_BUILD: dir })).rejects.toThrow(/no streamConversionOp/);
  });

  it("adds a column to section 3b only when a row was measured against it", () => {
    const m: Measurement = { medianNs: 1000, minNs: 900, spread: 0.1, batches: 1, cleanBatches: 1, opsPerBatch: 1 };
    const row: StreamRow = {
      client: "openai-chat",
      upstream: "anthropic",
      sameWire: false,
      upstreamEvents: 10,
      outEvents: 10,
      outDataBytes: 100,
      problems: [],
      m,
      vsSse: 2,
      vsObserver: 1.5,
    };
    expect(streamTable([row])).not.toContain("× other build");
    const withOther = streamTable([{ ...row, vsOther: 0.65 }]);
    expect(withOther).toContain("× other build");
    expect(withOther).toMatch(/0\.65×/);
  });
});
