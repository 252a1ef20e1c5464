/**
 * WAL checkpoints off the event loop, for the gateway's SQLite file.
 *
 * SQLite's automatic checkpoint runs inside the commit that takes the WAL past 1,000 pages, on
 * the connection that commits: the gateway's, on its event loop. Copying 4 MB of pages back into
 * the database made that one commit take several milliseconds (`npm run bench:usage-writes`:
 * the slowest transaction of every batch size, 6–14 ms), and every stream waited. So the gateway's
 * connection checkpoints nothing itself (`wal_autocheckpoint = 0`), and a worker thread with a
 * connection of its own runs a PASSIVE checkpoint every `everyMs`: it copies what it can without
 * waiting for the writer, and the writer starts the WAL over once a checkpoint has copied all of it
 * (https://www.sqlite.org/wal.html#checkpointing). Should the worker stop for any reason, the
 * connection checkpoints for itself again.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type SqliteDatabase from "better-sqlite3";

/** What one checkpoint found: the WAL's frames, and how many of them are in the database now. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

/** SQLite's default, restored when the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

// CommonJS source run with `eval`, so the worker needs no file of its own next to this module
// (vitest runs the TypeScript sources; the gateway runs dist/).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
const checkpoint = () => {
  try {
    const [r] = db.pragma("wal_checkpoint(PASSIVE)");
    return { busy: r.busy, log: r.log, checkpointed: r.checkpointed };
  } catch (err) {
    return { error: String(err && err.message || err) };
  }
};
const timer = setInterval(checkpoint, workerData.everyMs);
parentPort.on("message", (m) => {
  if (m.type === "now") parentPort.postMessage({ id: m.id, result: checkpoint() });
  else if (m.type === "stop") {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

export class WalCheckpointer {
  readonly #worker: Worker;
  readonly #database: SqliteDatabase.Database;
  readonly #waiting = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();
  #next = 0;
  readonly #gone: Promise<void>;
  #stopping = false;
  /** The worker has exited, asked to or not: nothing sent to it is answered any more. */
  #ended = false;

  /**
   * Starts checkpointing `file` every `everyMs` from a worker; `database` is the gateway's connection
   * to it. `onLost` hears of a worker that ended without `stop()` (with its error, if it threw).
   */
  constructor(database: SqliteDatabase.Database, file: string, opts: { everyMs?: number; onLost?: (error: Error | undefined) => void } = {}) {
    const everyMs = opts.everyMs ?? 1000;
    this.#database = database;
    database.pragma("wal_autocheckpoint = 0");
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    // A small heap: the worker holds one connection and a timer (about 13 MB more RSS with V8's defaults).
    const resourceLimits = { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 4 };
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, file, everyMs }, resourceLimits });
    // Never what keeps a process alive while idle: close() stops it, and an exit without close loses nothing.
    this.#worker.unref();
    this.#worker.on("message", (m: { id: number; result: CheckpointResult | { error: string } }) => {
      const waiter = this.#waiting.get(m.id);
      if (!waiter) return;
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0 && !this.#stopping) this.#worker.unref();
      if ("error" in m.result) waiter.reject(new Error(`WAL checkpoint failed: ${m.result.error}`));
      else waiter.resolve(m.result);
    });
    let thrown: Error | undefined;
    this.#gone = new Promise((resolve) => {
      const gone = (): void => {
        this.#ended = true;
        if (!this.#stopping) opts.onLost?.(thrown);
        // The worker failed to start, threw or was stopped: the connection checkpoints for itself again.
        if (this.#database.open) this.#database.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
        for (const w of this.#waiting.values()) w.reject(new Error("the WAL checkpointer stopped"));
        this.#waiting.clear();
        resolve();
      };
      this.#worker.once("exit", gone);
      this.#worker.once("error", (err) => {
        thrown = err;
      });
    });
  }

  /** A checkpoint now, in the worker (for tests). Rejects once the worker is stopped or gone. */
  checkpoint(): Promise<CheckpointResult> {
    if (this.#stopping || this.#ended) return Promise.reject(new Error("the WAL checkpointer stopped"));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      // Held while an answer is awaited, so the process does not end under the caller.
      this.#worker.ref();
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ type: "now", id });
    });
  }

  /** Stops the worker (its connection closes) and hands checkpoints back to the connection. */
  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      // Held until it has closed its connection: a process that exits meanwhile would end with an unsettled wait.
      this.#worker.ref();
      this.#worker.postMessage({ type: "stop" });
    }
    return this.#gone;
  }

  /** For tests: ends the worker as a crash would. */
  terminate(): Promise<number> {
    return this.#worker.terminate();
  }
}
