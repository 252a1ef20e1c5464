/**
 * The change feed implementations against real servers: PostgreSQL LISTEN/NOTIFY on a
 * database of the test's own, Redis pub/sub on a channel of the test's own. A notice
 * reaches the other node and not its sender; a malformed message is ignored; publishing
 * to a server that cannot be reached rejects within its bounded wait.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../testing/postgres-db.js";
import type { ChangeFeed, ChangeNotice } from "./ports.js";
import { PgChangeFeed } from "./sql/pg-change-feed.js";
import { RedisChangeFeed } from "./redis/change-feed.js";

const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db?.drop());

interface Kind {
  name: string;
  make(node: string, channel: string): ChangeFeed;
  /** Sends a raw message on the channel, as a foreign or broken sender would. */
  raw(channel: string, text: string): Promise<void>;
  unreachable(channel: string): ChangeFeed;
}

const KINDS: Kind[] = [
  {
    name: "PostgreSQL LISTEN/NOTIFY",
    make: (node, channel) => new PgChangeFeed({ url: db.url, channel, node }),
    async raw(channel, text) {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query("select pg_notify($1, $2)", [channel, text]);
      await c.end();
    },
    unreachable: (channel) => new PgChangeFeed({ url: "postgres://postgres@127.0.0.1:1/none", channel, node: "x", publishTimeoutMs: 300 }),
  },
  {
    name: "Redis pub/sub",
    make: (node, channel) => new RedisChangeFeed({ url: REDIS_URL, channel, node }),
    async raw(channel, text) {
      const r = new Redis(REDIS_URL);
      await r.publish(channel, text);
      r.disconnect();
    },
    unreachable: (channel) => new RedisChangeFeed({ url: "redis://127.0.0.1:1", channel, node: "x", publishTimeoutMs: 300 }),
  },
];

describe.each(KINDS)("$name", (kind) => {
  it("delivers a notice to the other node, not back to its sender, and skips malformed messages", async () => {
    const channel = `sy_feed_${randomBytes(6).toString("hex")}`;
    const a = kind.make("a", channel);
    const b = kind.make("b", channel);
    const atA: ChangeNotice[] = [];
    const atB: ChangeNotice[] = [];
    try {
      await a.start({ change: (n) => atA.push(n), reset: () => undefined });
      await b.start({ change: (n) => atB.push(n), reset: () => undefined });
      await kind.raw(channel, "not json");
      await kind.raw(channel, JSON.stringify({ node: "c", type: 1, id: "x" }));
      await a.publish({ type: "account", id: "acct-1" });
      // Messages on one channel arrive at each listener in order: once this one is in at a node, the
      // ones before were handled there. Each node listens on its own connection, so wait for both.
      await kind.raw(channel, JSON.stringify({ node: "c", type: "api_key", id: "last" }));
      const deadline = Date.now() + 5_000;
      while ((atB.length < 2 || atA.length < 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(atB).toEqual([
        { type: "account", id: "acct-1" },
        { type: "api_key", id: "last" },
      ]);
      expect(atA).toEqual([{ type: "api_key", id: "last" }]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("rejects a publish it could not send within its wait", async () => {
    const feed = kind.unreachable(`sy_feed_${randomBytes(6).toString("hex")}`);
    try {
      await expect(feed.publish({ type: "account", id: "x" })).rejects.toThrow();
    } finally {
      await feed.close();
    }
  });
});
