import { describe, expect, it } from "vitest";
import { KeyUseRecorder } from "./key-use.js";

/** A recorder on a hand-moved clock whose timer never fires during a test: flushes are called explicitly. */
function setup(failing = false) {
  let now = Date.UTC(2030, 0, 1);
  const touches: Array<[string, string]> = [];
  const repo = {
    touch: async (id: string, at: string) => {
      if (failing) throw new Error("database down");
      touches.push([id, at]);
    },
  };
  const errors: unknown[] = [];
  const recorder = new KeyUseRecorder(repo, { error: (o: unknown) => void errors.push(o) }, { flushIntervalMs: 3_600_000, now: () => now });
  return {
    recorder,
    touches,
    errors,
    advance: (ms: number) => (now += ms),
    heal: () => (failing = false),
  };
}

const iso = (ms: number) => new Date(Date.UTC(2030, 0, 1) + ms).toISOString();

describe("KeyUseRecorder", () => {
  it("writes nothing on use, and each key's latest use on flush", async () => {
    const t = setup();
    t.recorder.used("k1");
    t.advance(5_000);
    t.recorder.used("k1");
    t.recorder.used("k2");
    expect(t.touches).toEqual([]);
    await t.recorder.flush();
    expect(t.touches).toEqual([
      ["k1", iso(5_000)],
      ["k2", iso(5_000)],
    ]);
    await t.recorder.close();
  });

  it("writes a key at most once a minute, and the rest at close", async () => {
    const t = setup();
    t.recorder.used("k1");
    await t.recorder.flush();
    t.advance(30_000);
    t.recorder.used("k1");
    await t.recorder.flush();
    expect(t.touches).toHaveLength(1);
    t.advance(30_000);
    await t.recorder.flush();
    expect(t.touches).toEqual([
      ["k1", iso(0)],
      ["k1", iso(30_000)],
    ]);
    t.advance(1_000);
    t.recorder.used("k1");
    await t.recorder.flush();
    expect(t.touches).toHaveLength(2);
    await t.recorder.close();
    expect(t.touches.at(-1)).toEqual(["k1", iso(61_000)]);
  });

  it("keeps uses whose write failed for the next flush", async () => {
    const t = setup(true);
    t.recorder.used("k1");
    await t.recorder.flush();
    expect(t.touches).toEqual([]);
    expect(t.errors).toHaveLength(1);
    t.heal();
    await t.recorder.flush();
    expect(t.touches).toEqual([["k1", iso(0)]]);
    await t.recorder.close();
  });
});
