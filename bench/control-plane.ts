/**
 * Control-plane benchmark (`npm run bench:control-plane [-- --quick] [-- --sqlite-only]`).
 * On SQLite and on PostgreSQL (BENCH_DATABASE_URL, default the test server) it measures:
 *
 *  1. Tree queries on trees of 100,000 accounts whose maximum depth is 1, 10, 100 and
 *     1,000: `descendants` of a node whose subtree is always 10 accounts, `ancestors` of
 *     the deepest account, and effective-policy resolution (what a principal-cache miss
 *     does: the key by prefix, the account and its ancestors, the fold), each in ms per
 *     call (median and p99), plus the cost of a principal-cache hit (µs).
 *  2. Write-to-effective latency: from an admin write (suspend/resume an ancestor) to
 *     the moment the data plane sees it, on one node and through the change feed to a
 *     second node (PostgreSQL LISTEN/NOTIFY; Redis pub/sub when REDIS_URL is reachable).
 *  3. Memory: RSS and heap with 100,000 accounts and 1,000,000 API keys in the database
 *     and a working set of keys cached.
 *
 * Tree shape (keeps the closure table near 2 rows per account at any depth): two primary
 * accounts. Below the first, a spine of depth−1 accounts, each the child of the one
 * before, and 10 leaves under the last spine account (under the primary itself at depth
 * 1), at the maximum depth. The rest of the 100,000 accounts are direct children of the
 * second primary. Closure rows: about 2 × 100,000 + depth²/2. Every spine account stores
 * a model list, so the fold does work at every level.
 *
 * The machine may be busy (other processes): figures from one run compare with each
 * other, not with another run's (docs/architecture.md#measured-facts).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { sql } from "kysely";
import { Redis } from "ioredis";
import { openSqlStore } from "../src/storage/open-store.js";
import type { SqlStore } from "../src/storage/sql/sql-store.js";
import { PgChangeFeed } from "../src/storage/sql/pg-change-feed.js";
import { RedisChangeFeed } from "../src/storage/redis/change-feed.js";
import type { ChangeFeed, ChangeNotice } from "../src/storage/ports.js";
import { Principals, type Principal } from "../src/governance/principals.js";
import { hashKey, hashesEqual, keyPrefix } from "../src/governance/api-keys.js";
import { AdminService } from "../src/admin/service.js";
import { summarize } from "./stats.js";

const args = new Set(process.argv.slice(2));
const QUICK = args.has("--quick");
const SQLITE_ONLY = args.has("--sqlite-only");
const ACCOUNTS = QUICK ? 20_000 : 100_000;
const KEYS = QUICK ? 100_000 : 1_000_000;
const WORKING_SET = QUICK ? 20_000 : 100_000;
const DEPTHS = [1, 10, 100, 1000];
const SAMPLES = QUICK ? 60 : 300;
const WRITES = QUICK ? 20 : 60;
const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const NOW = new Date().toISOString();
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

type Engine = "sqlite" | "postgres";
interface Opened {
  store: SqlStore;
  url: string | undefined;
  dispose(): Promise<void>;
}

const log = (msg: string): void => void process.stderr.write(`${msg}\n`);
const fmt = (ms: number): string => (ms < 0.1 ? ms.toFixed(4) : ms < 10 ? ms.toFixed(3) : ms.toFixed(1));
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

async function openEngine(engine: Engine): Promise<Opened> {
  if (engine === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "switchyard-bench-cp-"));
    const store = await openSqlStore({ dataDir: dir });
    await store.migrate();
    return {
      store,
      url: undefined,
      async dispose() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `bench_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  const store = await openSqlStore({ databaseUrl: url.toString(), dataDir: "/nonexistent", poolMax: 8 });
  await store.migrate();
  return {
    store,
    url: url.toString(),
    async dispose() {
      await store.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}

/** Rows in chunks small enough for SQLite's parameter limit. */
async function insertChunked<T extends Record<string, unknown>>(store: SqlStore, table: "accounts" | "account_closure" | "api_keys", rows: T[]): Promise<void> {
  const per = Math.floor(30_000 / Object.keys(rows[0] ?? { x: 1 }).length);
  for (let i = 0; i < rows.length; i += per) {
    // Bench-only bulk load straight through Kysely; the repos insert one row at a time.
    await store.db
      .insertInto(table)
      .values(rows.slice(i, i + per) as never)
      .execute();
  }
}

/**
 * Fresh planner statistics after a bulk load, as autovacuum (PostgreSQL) would gather
 * them on a real database: without them PostgreSQL may join the whole accounts table
 * for a ten-row descendants query.
 */
async function analyze(store: SqlStore): Promise<void> {
  await sql`analyze`.execute(store.db);
}

interface Tree {
  root: string;
  /** The account whose subtree is the 10 probe leaves. */
  probe: string;
  /** A leaf at the maximum depth. */
  deepest: string;
  /** Spine accounts, root side first (not the root). */
  spine: string[];
  all: string[];
}

async function buildTree(store: SqlStore, accounts: number, depth: number): Promise<Tree> {
  const rows: Record<string, unknown>[] = [];
  const closure: { ancestor_id: string; descendant_id: string; depth: number }[] = [];
  const account = (parent: string | null, name: string, settings: Record<string, unknown> = {}): string => {
    const id = randomUUID();
    rows.push({ id, parent_id: parent, name, status: "active", settings: JSON.stringify(settings), created_at: NOW, updated_at: NOW });
    return id;
  };
  const root = account(null, "root", { models: ["gpt-*", "claude-*", "o*"] });
  const path = [root];
  closure.push({ ancestor_id: root, descendant_id: root, depth: 0 });
  const addClosure = (id: string, ancestorsRootFirst: readonly string[]): void => {
    closure.push({ ancestor_id: id, descendant_id: id, depth: 0 });
    for (let i = 0; i < ancestorsRootFirst.length; i++)
      closure.push({ ancestor_id: ancestorsRootFirst[i]!, descendant_id: id, depth: ancestorsRootFirst.length - i });
  };
  for (let d = 1; d < depth; d++) {
    const id = account(path[path.length - 1]!, `spine-${d}`, { models: ["gpt-*", "claude-*"] });
    addClosure(id, path);
    path.push(id);
  }
  const probe = path[path.length - 1]!;
  let deepest = "";
  for (let i = 0; i < 10; i++) {
    deepest = account(probe, `leaf-${i}`);
    addClosure(deepest, path);
  }
  const bulk = account(null, "bulk", { models: ["gpt-*"] });
  closure.push({ ancestor_id: bulk, descendant_id: bulk, depth: 0 });
  const filler = accounts - rows.length;
  for (let i = 0; i < filler; i++) addClosure(account(bulk, `acct-${i}`), [bulk]);
  await insertChunked(store, "accounts", rows);
  await insertChunked(store, "account_closure", closure);
  await analyze(store);
  return { root, probe, deepest, spine: path.slice(1), all: rows.map((r) => r.id as string) };
}

function secretFor(i: number): string {
  // Deterministic generated-shape keys: `sy_<8 hex>_<32 base62>`, prefix unique per i.
  const hex = i.toString(16).padStart(8, "0");
  let body = "";
  for (let j = 0, x = i * 2654435761; j < 32; j++, x = (x * 1103515245 + 12345) >>> 0) body += BASE62[x % 62];
  return `sy_${hex}_${body}`;
}

/** Inserts `count` keys spread over `accounts`, the first ones on `first` (so their account is known). */
async function insertKeys(store: SqlStore, accounts: readonly string[], count: number, offset: number, first?: string): Promise<string[]> {
  const secrets: string[] = [];
  const batch: Record<string, unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const secret = secretFor(offset + i);
    const hash = hashKey(secret);
    const accountId = i === 0 && first ? first : accounts[i % accounts.length]!;
    batch.push({
      id: randomUUID(),
      account_id: accountId,
      name: `k${i}`,
      prefix: keyPrefix(secret, hash),
      hash,
      status: "active",
      created_at: NOW,
      last_used_at: null,
    });
    secrets.push(secret);
    if (batch.length === 20_000) await insertChunked(store, "api_keys", batch.splice(0));
  }
  if (batch.length > 0) await insertChunked(store, "api_keys", batch);
  await analyze(store);
  return secrets;
}

async function timeCalls(n: number, fn: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < Math.min(10, n); i++) await fn();
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples[i] = performance.now() - t;
  }
  const s = summarize(samples);
  return { p50: s.p50, p99: s.p99 };
}

/** ns per synchronous call, median of 9 batches. */
function nsPerCall(fn: () => unknown, batch = 20_000): number {
  for (let i = 0; i < batch; i++) fn();
  const runs: number[] = [];
  for (let r = 0; r < 9; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    runs.push(Number(process.hrtime.bigint() - t) / batch);
  }
  return runs.sort((a, b) => a - b)[4]!;
}

const disabled = (p: Principal | undefined): boolean => !!p && p.chain.some((a) => a.status !== "active");

interface DepthRow {
  engine: Engine;
  depth: number;
  closureRows: number;
  descendants: { p50: number; p99: number };
  ancestors: { p50: number; p99: number };
  effective: { p50: number; p99: number };
  hitNs: number;
}

async function depthRun(engine: Engine, depth: number): Promise<DepthRow> {
  const o = await openEngine(engine);
  try {
    const t0 = performance.now();
    const tree = await buildTree(o.store, ACCOUNTS, depth);
    const [secret] = await insertKeys(o.store, [tree.deepest], 1, 0);
    const closureRows = Number(
      (
        await o.store.db
          .selectFrom("account_closure")
          .select((e) => e.fn.countAll().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
    log(`  ${engine} depth ${depth}: ${ACCOUNTS} accounts, ${closureRows} closure rows, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const descendants = await timeCalls(SAMPLES, () => o.store.accounts.descendants(tree.probe));
    const ancestors = await timeCalls(SAMPLES, () => o.store.accounts.ancestors(tree.deepest));
    // A cache miss each time: the key by prefix, its account and ancestors, the fold.
    const principals = new Principals(o.store, { loadsPerSecond: 1e9 });
    const effective = await timeCalls(SAMPLES, async () => {
      principals.clear();
      const p = await principals.verify(secret!);
      if (!p || p.chain.length !== depth + 1) throw new Error(`unexpected chain ${p?.chain.length}`);
    });
    await principals.verify(secret!);
    const hitNs = nsPerCall(() => principals.verify(secret!));
    return { engine, depth, closureRows, descendants, ancestors, effective, hitNs };
  } finally {
    await o.dispose();
  }
}

/** Suspends and resumes an ancestor of a cached key; ms from the write's start until `seen` reports the new state. */
async function writeToEffective(
  admin: AdminService,
  accountId: string,
  seen: (wantDisabled: boolean) => Promise<void>,
  writes: number,
): Promise<{ p50: number; p99: number }> {
  const samples = new Float64Array(writes);
  for (let i = 0; i < writes; i++) {
    const wantDisabled = i % 2 === 0;
    const t = performance.now();
    await admin.updateAccount(accountId, { status: wantDisabled ? "disabled" : "active" });
    await seen(wantDisabled);
    samples[i] = performance.now() - t;
  }
  const s = summarize(samples);
  return { p50: s.p50, p99: s.p99 };
}

/** Polls a node's cache until the key's chain shows the wanted state (a few ms at most once told). */
async function until(principals: Principals, secret: string, wantDisabled: boolean): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    if (disabled(await principals.verify(secret)) === wantDisabled) return;
    if (performance.now() > deadline) throw new Error("the change never arrived");
    await new Promise((r) => setImmediate(r));
  }
}

interface ScaleRow {
  engine: Engine;
  accounts: number;
  keys: number;
  loadKeysS: number;
  local: { p50: number; p99: number };
  feeds: { name: string; p50: number; p99: number }[];
  working: number;
  fillS: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  stats: ReturnType<Principals["stats"]>;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return true;
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

async function scaleRun(engine: Engine): Promise<ScaleRow> {
  const o = await openEngine(engine);
  const feeds: ChangeFeed[] = [];
  try {
    const tree = await buildTree(o.store, ACCOUNTS, 10);
    const t0 = performance.now();
    const secrets = await insertKeys(o.store, tree.all, KEYS, 1, tree.deepest);
    const loadKeysS = (performance.now() - t0) / 1000;
    log(`  ${engine}: ${KEYS} keys inserted in ${loadKeysS.toFixed(1)} s`);
    const target = tree.spine[0]!;
    const probeKey = secrets[0]!;

    // One node: the write's own onChange invalidates; the next verify reloads.
    const local = new Principals(o.store, { loadsPerSecond: 1e9 });
    const localAdmin = new AdminService({ store: o.store, secrets: { seal: (s) => s }, onChange: (e) => local.invalidate(e.target) });
    await local.verify(probeKey);
    const localLatency = await writeToEffective(localAdmin, target, (want) => until(local, probeKey, want), WRITES);

    // Two nodes in this process, each with its own cache and feed connection.
    const feedRows: ScaleRow["feeds"] = [];
    const kinds: { name: string; make: (node: string, channel: string) => ChangeFeed }[] = [];
    if (o.url) kinds.push({ name: "PostgreSQL LISTEN/NOTIFY", make: (node, channel) => new PgChangeFeed({ url: o.url!, channel, node }) });
    if (await redisReachable()) kinds.push({ name: "Redis pub/sub", make: (node, channel) => new RedisChangeFeed({ url: REDIS_URL, channel, node }) });
    for (const kind of kinds) {
      const channel = `bench_${randomBytes(4).toString("hex")}`;
      const a = kind.make("a", channel);
      const b = kind.make("b", channel);
      feeds.push(a, b);
      const nodeA = new Principals(o.store, { loadsPerSecond: 1e9 });
      const nodeB = new Principals(o.store, { loadsPerSecond: 1e9 });
      await a.start({ change: (n) => void nodeA.invalidate(n), reset: () => nodeA.clear() });
      await b.start({ change: (n) => void nodeB.invalidate(n), reset: () => nodeB.clear() });
      const adminA = new AdminService({
        store: o.store,
        secrets: { seal: (s) => s },
        onChange: async (e) => {
          await nodeA.invalidate(e.target);
          await a.publish(e.target as ChangeNotice);
        },
      });
      await nodeB.verify(probeKey);
      const r = await writeToEffective(adminA, target, (want) => until(nodeB, probeKey, want), WRITES);
      feedRows.push({ name: kind.name, ...r });
    }
    // Both toggles end active, so every key works for the memory run.

    // Memory: a working set of keys, spread over the accounts, loaded into a fresh cache.
    const working = secrets.slice(0, WORKING_SET);
    gc();
    const before = process.memoryUsage();
    const cache = new Principals(o.store, { loadsPerSecond: 1e9, maxKeys: WORKING_SET });
    const t1 = performance.now();
    for (let i = 0; i < working.length; i += 64) await Promise.all(working.slice(i, i + 64).map((s) => cache.verify(s)));
    const fillS = (performance.now() - t1) / 1000;
    gc();
    const after = process.memoryUsage();
    // Every key is still a hit: nothing was evicted.
    let hits = 0;
    for (const s of working) if (!((cache.verify(s) as unknown) instanceof Promise)) hits++;
    if (hits !== working.length) throw new Error(`only ${hits} of ${working.length} keys stayed cached`);
    return {
      engine,
      accounts: ACCOUNTS,
      keys: KEYS,
      loadKeysS,
      local: localLatency,
      feeds: feedRows,
      working: working.length,
      fillS,
      rssBefore: before.rss,
      rssAfter: after.rss,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      stats: cache.stats(),
    };
  } finally {
    await Promise.all(feeds.map((f) => f.close()));
    await o.dispose();
  }
}

/** The old data plane's hit, for comparison: a Map from prefix, then the same hash compare. */
function snapshotHitNs(): number {
  const secret = secretFor(42);
  const hash = hashKey(secret);
  const map = new Map([[keyPrefix(secret, hash), { keyHash: hash }]]);
  return nsPerCall(() => {
    const h = hashKey(secret);
    const p = map.get(keyPrefix(secret, h));
    return p && hashesEqual(p.keyHash, h) ? p : undefined;
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const engines: Engine[] = SQLITE_ONLY ? ["sqlite"] : ["sqlite", "postgres"];
  log(`control-plane benchmark${QUICK ? " (--quick)" : ""}: ${ACCOUNTS} accounts, ${KEYS} keys, engines ${engines.join(", ")}`);
  if (!(globalThis as { gc?: unknown }).gc) log("  (run node with --expose-gc for steadier memory figures)");
  const rows: DepthRow[] = [];
  for (const engine of engines) for (const depth of DEPTHS) rows.push(await depthRun(engine, depth));
  const scale: ScaleRow[] = [];
  for (const engine of engines) scale.push(await scaleRun(engine));
  const baselineNs = snapshotHitNs();

  const out: string[] = [];
  out.push(`\n## Tree queries: ${ACCOUNTS} accounts, ms per call (p50 / p99); descendants return 10 rows, ancestors return depth rows\n`);
  out.push("| engine | max depth | closure rows | descendants | ancestors | ancestors per row | effective policy (cache miss) | per chain level | cache hit |");
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    out.push(
      `| ${r.engine} | ${r.depth} | ${r.closureRows} | ${fmt(r.descendants.p50)} / ${fmt(r.descendants.p99)} | ${fmt(r.ancestors.p50)} / ${fmt(r.ancestors.p99)} | ${((r.ancestors.p50 * 1000) / r.depth).toFixed(1)} µs | ${fmt(r.effective.p50)} / ${fmt(r.effective.p99)} | ${((r.effective.p50 * 1000) / (r.depth + 1)).toFixed(1)} µs | ${(r.hitNs / 1000).toFixed(2)} µs |`,
    );
  }
  out.push(`\nA cache hit of the old full snapshot (Map lookup + the same hash compare): ${(baselineNs / 1000).toFixed(2)} µs.`);
  out.push(
    `\n## Write to effective: suspend/resume an ancestor of a cached key, ms from the admin write's start until the data plane sees it (p50 / p99, ${WRITES} writes)\n`,
  );
  out.push("| engine | same node | via change feed |");
  out.push("| --- | ---: | --- |");
  for (const s of scale) {
    const feeds = s.feeds.length > 0 ? s.feeds.map((f) => `${f.name}: ${fmt(f.p50)} / ${fmt(f.p99)}`).join("; ") : "— (single node)";
    out.push(`| ${s.engine} | ${fmt(s.local.p50)} / ${fmt(s.local.p99)} | ${feeds} |`);
  }
  out.push(`\n## Memory: ${ACCOUNTS} accounts and ${KEYS} keys in the database; a working set of keys cached\n`);
  out.push("| engine | keys inserted in | working set | filled in | cached accounts / chain links | RSS before → after | heap before → after |");
  out.push("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of scale) {
    out.push(
      `| ${s.engine} | ${s.loadKeysS.toFixed(1)} s | ${s.working} keys | ${s.fillS.toFixed(1)} s | ${s.stats.accounts} / ${s.stats.chainLinks} | ${mb(s.rssBefore)} → ${mb(s.rssAfter)} | ${mb(s.heapBefore)} → ${mb(s.heapAfter)} |`,
    );
  }
  out.push(`\nTotal time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
  process.stdout.write(`${out.join("\n")}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
