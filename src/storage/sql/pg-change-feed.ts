/**
 * The change feed over PostgreSQL LISTEN/NOTIFY, for clusters on one PostgreSQL database
 * without Redis. Notifications stay inside the database, so nodes on other databases never
 * hear each other whatever the channel. One dedicated connection listens; publishing goes
 * through a small pool of its own (`pg_notify`), retried for a bounded time.
 *
 * PostgreSQL keeps nothing for a listener that was away: when the listening connection
 * drops, it is reopened (backing off up to 2 s) and, once it listens again, the node is
 * told to forget what it cached (`reset`).
 */
import pg from "pg";
import { decodeNotice, encodeNotice, type ChangeFeed, type ChangeFeedHandlers, type ChangeNotice } from "../ports.js";

export interface PgChangeFeedOptions {
  url: string;
  channel: string;
  /** This node's id: its own notices are not delivered back to it. */
  node: string;
  publishTimeoutMs?: number;
  onError?: (err: Error) => void;
}

export class PgChangeFeed implements ChangeFeed {
  readonly kind = "postgres";
  readonly #o: PgChangeFeedOptions;
  readonly #pool: pg.Pool;
  #listener: pg.Client | undefined;
  #handlers: ChangeFeedHandlers | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(o: PgChangeFeedOptions) {
    this.#o = o;
    this.#pool = new pg.Pool({ connectionString: o.url, max: 2 });
    this.#pool.on("error", (err) => o.onError?.(err));
  }

  async publish(notice: ChangeNotice): Promise<void> {
    const deadline = performance.now() + (this.#o.publishTimeoutMs ?? 2_000);
    for (let wait = 50; ; wait = Math.min(wait * 2, 500)) {
      try {
        await this.#pool.query("select pg_notify($1, $2)", [this.#o.channel, encodeNotice(this.#o.node, notice)]);
        return;
      } catch (err) {
        if (this.#closed || performance.now() + wait > deadline) throw err;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }

  async start(handlers: ChangeFeedHandlers): Promise<void> {
    this.#handlers = handlers;
    await this.#listen();
  }

  async #listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.#o.url });
    const lost = (err?: Error): void => {
      if (err) this.#o.onError?.(err);
      if (this.#listener !== client) return;
      this.#listener = undefined;
      client.end().catch(() => undefined);
      this.#reconnect(100);
    };
    client.on("error", lost);
    client.on("end", () => lost());
    client.on("notification", (msg) => {
      if (msg.channel !== this.#o.channel || msg.payload === undefined) return;
      const notice = decodeNotice(this.#o.node, msg.payload);
      if (notice) this.#handlers?.change(notice);
    });
    try {
      await client.connect();
      await client.query(`listen ${client.escapeIdentifier(this.#o.channel)}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.#closed) {
      await client.end();
      return;
    }
    this.#listener = client;
  }

  #reconnect(wait: number): void {
    if (this.#closed) return;
    this.#retry = setTimeout(() => {
      this.#listen().then(
        () => {
          // Listening again: what was sent while away is lost, so everything cached goes.
          if (!this.#closed) this.#handlers?.reset();
        },
        (err: Error) => {
          this.#o.onError?.(err);
          this.#reconnect(Math.min(wait * 2, 2_000));
        },
      );
    }, wait);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const listener = this.#listener;
    this.#listener = undefined;
    await Promise.all([listener?.end().catch(() => undefined), this.#pool.end().catch(() => undefined)]);
  }
}
