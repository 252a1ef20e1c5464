/**
 * The key-state bus over Redis: each transition is written to one hash (field = key
 * id, so a node that starts reads what is still in force) and published on a channel
 * that every node subscribes to. Publishing never waits on the request path: the
 * command is queued and a failure is logged, since the node's own state already
 * changed and the others catch up with the next transition.
 */
import { Redis } from "ioredis";
import type { KeyStateBus, KeyTransition } from "../ports.js";

export interface RedisBusOptions {
  url: string;
  /** This node's id: its own messages come back on the channel and are ignored. */
  node: string;
  /** Namespaces the channel and the hash (tests use one per test). */
  prefix?: string;
  /** Where connection and publish failures are reported (the gateway's logger). */
  logger: { warn(fields: object, message: string): void };
}

export function createRedisKeyStateBus(o: RedisBusOptions): KeyStateBus {
  const prefix = o.prefix ?? "switchyard:";
  const channel = `${prefix}key-state`;
  const hash = `${prefix}key-state`;
  const pub = new Redis(o.url, { maxRetriesPerRequest: 2 });
  // autoResubscribe off: ioredis's own re-subscription after a reconnect leaves its promise
  // unhandled, so a close before Redis answered it was an unhandled rejection. The 'ready'
  // handler below re-subscribes, with the failure logged.
  const sub = new Redis(o.url, { maxRetriesPerRequest: 2, autoResubscribe: false });
  // ioredis reconnects by itself; an unhandled 'error' event would end the process.
  for (const c of [pub, sub]) c.on("error", (err: Error) => o.logger.warn({ err: err.message }, "redis (key state): connection error"));
  const handlers = new Set<(t: KeyTransition) => void>();
  let subscribed: Promise<unknown> | undefined;
  let lost = false;
  sub.on("close", () => (lost = true));
  sub.on("ready", () => {
    if (!lost || !subscribed) return;
    lost = false;
    sub.subscribe(channel).catch((err: Error) => o.logger.warn({ err: err.message }, "redis (key state): subscribe failed"));
  });
  sub.on("message", (_ch: string, text: string) => {
    const t = parse(text);
    if (!t || t.origin === o.node) return;
    for (const h of handlers) h(t);
  });
  return {
    publish(t) {
      const text = JSON.stringify(t);
      const m = pub.multi();
      if (t.state === "healthy") m.hdel(hash, t.keyId);
      else m.hset(hash, t.keyId, text);
      m.publish(channel, text)
        .exec()
        .catch((err: Error) => o.logger.warn({ err: err.message, key: t.fingerprint }, "redis (key state): publish failed"));
    },
    subscribe(handler) {
      handlers.add(handler);
      subscribed ??= sub.subscribe(channel).catch((err: Error) => o.logger.warn({ err: err.message }, "redis (key state): subscribe failed"));
      return () => handlers.delete(handler);
    },
    async current() {
      // Subscribed first, so nothing published between the read and the subscription is lost.
      await subscribed;
      const all = await pub.hgetall(hash);
      const now = Date.now();
      return Object.values(all)
        .map(parse)
        .filter((t): t is KeyTransition => t !== undefined && (t.state === "disabled" || t.until > now));
    },
    async close() {
      handlers.clear();
      await Promise.allSettled([sub.quit(), pub.quit()]);
    },
  };
}

function parse(text: string): KeyTransition | undefined {
  try {
    const t = JSON.parse(text) as KeyTransition;
    return typeof t.keyId === "string" && typeof t.fingerprint === "string" && typeof t.state === "string" ? t : undefined;
  } catch {
    return undefined;
  }
}
