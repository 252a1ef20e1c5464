/**
 * Usage-write benchmark (`npm run bench:usage-writes`): what writing usage records to a SQLite
 * store costs, per record and per transaction, at the batch sizes the usage recorder could take
 * (governance/usage-recorder.ts, `SQLITE_ROWS_PER_WRITE`). SQLite writes on the gateway's event
 * loop, so a transaction's time is how long every stream waits behind it.
 *
 * Each size writes BENCH_USAGE_RECORDS records (default 20,000) in batches of that size
 * through `UsageRepo.insertMany` on a fresh database (its row in three B-trees, the hourly rollup,
 * no debit), three times; the median run is printed. Once with the WAL checkpointed from a
 * worker thread, as the gateway runs (sql/wal-checkpointer.ts), once with SQLite's own
 * checkpoints inside the commits. Figures from one run compare with each
 * other, not with another run's.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { timeOrderedHex } from "../src/canonical/time-ordered-id.js";
import { sql } from "kysely";
import { openSqlStore } from "../src/storage/open-store.js";
import type { UsageRecord } from "../src/storage/ports.js";

const SIZES = [16, 32, 64, 128, 256, 500];
const RUNS = 3;
const total = Number(process.env.BENCH_USAGE_RECORDS ?? 20_000);
if (!Number.isInteger(total) || total < 500) throw new Error(`BENCH_USAGE_RECORDS must be an integer of at least 500, got ${process.env.BENCH_USAGE_RECORDS}`);

/** Ids as the gateway stores them: UUIDs for the account, its key, the upstream and the upstream key. */
const IDS = { account: randomUUID(), apiKey: randomUUID(), upstream: randomUUID(), upstreamKey: randomUUID() };

/** A record as the bench's governance profile writes one: a streamed Chat request, priced, with a cache key, served at the first attempt. */
function record(): UsageRecord {
  return {
    requestId: `req_${timeOrderedHex()}`,
    accountId: IDS.account,
    apiKeyId: IDS.apiKey,
    model: "bench-model",
    upstreamModel: "bench-served",
    upstreamId: IDS.upstream,
    upstreamKeyId: IDS.upstreamKey,
    clientProtocol: "openai-chat",
    upstreamProtocol: "openai-chat",
    stream: true,
    inputTokens: 310,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 24,
    reasoningTokens: 0,
    costMicros: 1_015,
    priceVersion: "bench",
    // Stored as the governance profile's records are; insertMany writes no debit for them (see the header).
    payerAccountId: IDS.account,
    chargedMicros: 1_015,
    status: "ok",
    httpStatus: 200,
    errorCode: null,
    attempts: 1,
    latencyMs: 4,
    ttfbMs: 2,
    attemptTrail: [
      { upstream: "pool-a", upstreamId: IDS.upstream, keyId: IDS.upstreamKey, tier: 1, outcome: "ok", httpStatus: 200, code: null, durationMs: 3 },
    ],
    createdAt: new Date().toISOString(),
    cacheKeyHash: "0123456789abcdef0123456789abcdef",
    tier: 1,
  };
}

interface Run {
  usPerRecord: number;
  msPerTransaction: { median: number; max: number };
  /** The database's size (WAL included: SQLite's page count) per record written: what every record's B-trees take. */
  bytesPerRecord: number;
}

async function run(size: number, walCheckpointer: boolean): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "switchyard-usage-writes-"));
  const store = await openSqlStore({ dataDir: dir, walCheckpointer });
  try {
    await store.migrate();
    const times: number[] = [];
    for (let written = 0; written < total; written += size) {
      const batch = Array.from({ length: Math.min(size, total - written) }, record);
      const started = performance.now();
      await store.usage.insertMany(batch);
      times.push(performance.now() - started);
    }
    const sum = times.reduce((a, b) => a + b, 0);
    const sorted = [...times].sort((a, b) => a - b);
    const [pages] = (await sql<{ page_count: number }>`pragma page_count`.execute(store.db)).rows;
    const [pageSize] = (await sql<{ page_size: number }>`pragma page_size`.execute(store.db)).rows;
    return {
      usPerRecord: (sum * 1000) / total,
      msPerTransaction: { median: sorted[Math.floor(sorted.length / 2)]!, max: sorted.at(-1)! },
      bytesPerRecord: (pages!.page_count * pageSize!.page_size) / total,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The median of RUNS runs by µs per record. */
async function median(size: number, walCheckpointer: boolean): Promise<Run> {
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run(size, walCheckpointer));
  runs.sort((a, b) => a.usPerRecord - b.usPerRecord);
  return runs[Math.floor(RUNS / 2)]!;
}

const cell = (x: number, digits: number, width: number): string => x.toFixed(digits).padStart(width);
const rows: string[] = [];
for (const size of SIZES) {
  // The gateway's way (checkpoints from a worker, sql/wal-checkpointer.ts) and SQLite's default (inside the commits).
  const worker = await median(size, true);
  const inline = await median(size, false);
  rows.push(
    `${String(size).padStart(10)}  ${cell(worker.usPerRecord, 1, 13)}  ${cell(worker.msPerTransaction.median, 2, 13)}  ${cell(worker.msPerTransaction.max, 2, 13)}` +
      `  ${cell(inline.usPerRecord, 1, 13)}  ${cell(inline.msPerTransaction.max, 2, 13)}  ${cell(worker.bytesPerRecord, 0, 12)}`,
  );
}
process.stdout.write(
  `Usage writes to SQLite: ${total} records per batch size, median of ${RUNS} runs; node ${process.version}\n` +
    `WAL checkpointed from a worker (the gateway) | inside the commits (SQLite's default)\n` +
    `records/tx  µs per record  ms per tx p50  ms per tx max  µs per record  ms per tx max  bytes/record\n${rows.join("\n")}\n`,
);
