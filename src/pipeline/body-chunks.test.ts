import { describe, expect, it } from "vitest";
import { eachChunk } from "./body-chunks.js";
import { queuedBody } from "../testing/queued-body.js";

describe("eachChunk", () => {
  it("takes what has arrived within the call and waits for the rest", async () => {
    const body = queuedBody("a", "b");
    const seen: string[] = [];
    const reading = eachChunk(body, (c) => void seen.push(c.toString()));
    expect(seen).toEqual(["a", "b"]);
    body.arrive("c");
    body.end();
    await reading;
    expect(seen).toEqual(["a", "b", "c"]);
  });

  it("waits for the promise the taker returns before taking the next chunk", async () => {
    const body = queuedBody("a", "b");
    body.end();
    const seen: string[] = [];
    let release!: () => void;
    const reading = eachChunk(body, (c) => {
      seen.push(c.toString());
      return seen.length === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(["a"]);
    release();
    await reading;
    expect(seen).toEqual(["a", "b"]);
  });

  it("rejects with a body's failure, after the chunks before it", async () => {
    const seen: string[] = [];
    const broken = (async function* () {
      yield Buffer.from("a");
      throw new Error("socket hang up");
    })();
    await expect(eachChunk(broken, (c) => void seen.push(c.toString()))).rejects.toThrow("socket hang up");
    expect(seen).toEqual(["a"]);
  });
});
