import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../storage/open-store.js";
import type { Store, UsageRecord, UsageRepo } from "../storage/ports.js";
import { createLogger } from "../observability/logger.js";
import { UsageRecorder } from "./usage-recorder.js";

let dir: string;
let store: Store;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sy-usage-"));
  store = await openStore({ dataDir: dir });
  await store.migrate();
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

const rec = (n: number): UsageRecord => ({
  requestId: `req_${n}`,
  accountId: "a",
  apiKeyId: "k",
  model: "m",
  upstreamId: null,
  upstreamKeyId: null,
  clientProtocol: "openai-chat",
  upstreamProtocol: "openai-chat",
  stream: false,
  inputTokens: n,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  outputTokens: 1,
  reasoningTokens: 0,
  costMicros: 0,
  status: "ok",
  httpStatus: 200,
  errorCode: null,
  attempts: 1,
  latencyMs: 5,
  ttfbMs: null,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
});

/** The real repo, made unavailable for the first `failures` writes (a database outage). */
function flaky(repo: UsageRepo, failures: number): UsageRepo & { calls: number } {
  const wrapper = {
    calls: 0,
    insertMany: async (rows: readonly UsageRecord[]) => {
      wrapper.calls++;
      if (wrapper.calls <= failures) throw new Error("database unavailable");
      return repo.insertMany(rows);
    },
    insertCharged: async (rows: readonly UsageRecord[]) => {
      wrapper.calls++;
      if (wrapper.calls <= failures) throw new Error("database unavailable");
      return repo.insertCharged(rows);
    },
    listByAccount: repo.listByAccount.bind(repo),
    summarize: repo.summarize.bind(repo),
  };
  return wrapper;
}

describe("UsageRecorder", () => {
  it("writes a record in the event-loop turn it arrived in when nothing was written lately, and spaces later writes", async () => {
    const recorder = new UsageRecorder(store.usage, createLogger("silent"), { maxBatch: 100, flushIntervalMs: 60_000 });
    recorder.record(rec(1));
    // The recorder's wake-up was queued first, so it has run (and SQLite written) by the time this one runs.
    await new Promise((r) => setImmediate(r));
    expect(await store.usage.listByAccount("a")).toHaveLength(1);
    // A write began less than an interval ago: the next record waits for the interval (or close).
    recorder.record(rec(2));
    await new Promise((r) => setImmediate(r));
    expect(recorder.pending).toBe(1);
    await recorder.close();
    expect(await store.usage.listByAccount("a")).toHaveLength(2);
  });

  it("writes as soon as a batch is full, and the rest on close", async () => {
    const recorder = new UsageRecorder(store.usage, createLogger("silent"), { maxBatch: 3, flushIntervalMs: 60_000 });
    for (let i = 0; i < 4; i++) recorder.record(rec(i));
    await recorder.flush();
    expect(await store.usage.listByAccount("a")).toHaveLength(4);
    recorder.record(rec(9));
    expect(recorder.pending).toBe(1);
    await recorder.close();
    expect(await store.usage.listByAccount("a")).toHaveLength(5);
  });

  it("keeps records through a failed write and writes each exactly once later", async () => {
    const repo = flaky(store.usage, 1);
    const recorder = new UsageRecorder(repo, createLogger("silent"), { maxBatch: 100, flushIntervalMs: 60_000 });
    recorder.record(rec(1));
    recorder.record(rec(2));
    await recorder.flush();
    expect(recorder.pending).toBe(2);
    expect(await store.usage.listByAccount("a")).toHaveLength(0);
    recorder.record(rec(3));
    await recorder.close();
    expect((await store.usage.listByAccount("a")).map((r) => r.requestId)).toEqual(["req_3", "req_2", "req_1"]);
  });

  it("writes at most rowsPerWrite records a transaction, letting the event loop turn between them", async () => {
    const batches: number[] = [];
    const turns: number[] = [];
    let turned = 0;
    const repo: UsageRepo = {
      ...store.usage,
      listByAccount: store.usage.listByAccount.bind(store.usage),
      summarize: store.usage.summarize.bind(store.usage),
      insertMany: async (rows: readonly UsageRecord[]) => {
        batches.push(rows.length);
        turns.push(turned);
        // Something else waiting on the loop: it runs only if the recorder yields before its next write.
        setImmediate(() => turned++);
        return store.usage.insertMany(rows);
      },
    };
    const recorder = new UsageRecorder(repo, createLogger("silent"), { maxBatch: 1_000, flushIntervalMs: 60_000, rowsPerWrite: 10 });
    for (let i = 0; i < 35; i++) recorder.record(rec(i));
    const writing = recorder.flush();
    // Arrives while the write is under way: it waits for the next write, so a busy gateway still writes in batches.
    await new Promise((r) => setImmediate(r));
    recorder.record(rec(100));
    await writing;
    expect(batches).toEqual([10, 10, 10, 5]);
    expect(turns).toEqual([0, 1, 2, 3]);
    expect(recorder.pending).toBe(1);
    await recorder.close();
    expect(batches).toEqual([10, 10, 10, 5, 1]);
    expect(await store.usage.listByAccount("a")).toHaveLength(36);
  });

  it("drops the oldest records past its bound while the store is down", async () => {
    const repo = flaky(store.usage, 1_000);
    const recorder = new UsageRecorder(repo, createLogger("silent"), { maxBatch: 1_000, maxBuffered: 5, flushIntervalMs: 60_000 });
    for (let i = 0; i < 8; i++) recorder.record(rec(i));
    expect(recorder.pending).toBe(5);
    await recorder.flush();
    expect(recorder.pending).toBe(5);
  });
});
