import { describe, expect, it } from "vitest";
import { OPENING_BYTE_CAP, openStream } from "./open-stream.js";
import { queuedBody } from "../testing/queued-body.js";

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

async function all(body: AsyncIterable<Buffer>): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(c);
  return Buffer.concat(out).toString();
}

const created = 'event: response.created\ndata: {"type":"response.created","response":{}}\n\n';
const delta = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hï 🚀"}\n\n';
const done = 'event: response.completed\ndata: {"type":"response.completed","response":{}}\n\n';

describe("holding a stream's opening events", () => {
  it("lets a healthy stream through at its first content event, every byte replayed once and in order", async () => {
    const text = created + delta + done;
    // Split inside an event and inside a multi-byte character.
    const cut1 = 30;
    const cut2 = Buffer.byteLength(created) + 70;
    const bytes = Buffer.from(text);
    const body = (async function* () {
      yield bytes.subarray(0, cut1);
      yield bytes.subarray(cut1, cut2);
      yield bytes.subarray(cut2);
    })();
    const opened = await openStream("openai-responses", body);
    expect(opened.kind).toBe("go");
    if (opened.kind === "go") expect(await all(opened.body)).toBe(text);
  });

  it("fails an attempt whose stream carries an error before content", async () => {
    const failed =
      'event: response.failed\ndata: {"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}\n\n';
    expect(await openStream("openai-responses", chunks(created, failed))).toMatchObject({
      kind: "failed",
      reason: "error_event",
      error: { code: "server_error" },
    });
  });

  it("fails an attempt whose stream ends or breaks before content", async () => {
    expect(await openStream("openai-responses", chunks(created))).toMatchObject({ kind: "failed", reason: "empty" });
    const broken = (async function* () {
      yield Buffer.from(created);
      throw new Error("socket hang up");
    })();
    expect(await openStream("openai-responses", broken)).toMatchObject({ kind: "failed", reason: "broken" });
  });

  it("lets the stream through once the opening passes the byte cap", async () => {
    const pad = `: ${"x".repeat(OPENING_BYTE_CAP)}\n\n`;
    const opened = await openStream("openai-responses", chunks(created, pad, delta));
    expect(opened.kind).toBe("go");
    if (opened.kind === "go") expect(await all(opened.body)).toBe(created + pad + delta);
  });

  it("lets a stream that shows no content within the hold through, without losing the read in flight", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const body = (async function* () {
      yield Buffer.from(created);
      await gate;
      yield Buffer.from(delta);
    })();
    const opened = await openStream("openai-responses", body, 5);
    expect(opened.kind).toBe("go");
    release();
    if (opened.kind === "go") expect(await all(opened.body)).toBe(created + delta);
  });

  it("hands a read that fails after the hold to whoever reads the stream", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const body = (async function* () {
      yield Buffer.from(created);
      await gate;
      throw new Error("socket hang up");
    })();
    const opened = await openStream("openai-responses", body, 5);
    expect(opened.kind).toBe("go");
    release();
    if (opened.kind === "go") await expect(all(opened.body)).rejects.toThrow("socket hang up");
  });
});

describe("an opening that has arrived already", () => {
  it("is judged within the call: a stream whose first read shows content opens without a promise, every byte replayed once", async () => {
    const body = queuedBody(created, delta + done);
    body.end();
    const opened = openStream("openai-responses", body);
    expect(opened).not.toBeInstanceOf(Promise);
    expect(opened).toMatchObject({ kind: "go" });
    if (!(opened instanceof Promise) && opened.kind === "go") {
      // The held reads as one chunk, taken within the call; then the end.
      expect(opened.body.takeNow!()!.toString()).toBe(created + delta + done);
      expect(opened.body.takeNow!()).toBeNull();
    }
  });

  it("fails within the call on an error event or an end without content", () => {
    const failed =
      'event: response.failed\ndata: {"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"boom"}}}\n\n';
    expect(openStream("openai-responses", queuedBody(created, failed))).toMatchObject({ kind: "failed", reason: "error_event" });
    const empty = queuedBody(created);
    empty.end();
    expect(openStream("openai-responses", empty)).toMatchObject({ kind: "failed", reason: "empty" });
  });

  it("waits for what has not arrived, and the replay hands over the held bytes, then what arrives", async () => {
    const body = queuedBody(created);
    const opening = openStream("openai-responses", body);
    expect(opening).toBeInstanceOf(Promise);
    body.arrive(delta);
    const opened = await opening;
    expect(opened.kind).toBe("go");
    if (opened.kind !== "go") return;
    expect(opened.body.takeNow!()!.toString()).toBe(created + delta);
    expect(opened.body.takeNow!()).toBeUndefined();
    body.arrive(done);
    body.end();
    expect(await all(opened.body)).toBe(done);
  });
});
