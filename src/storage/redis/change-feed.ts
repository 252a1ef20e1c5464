/**
 * The change feed over Redis pub/sub (`redis_url`): one connection publishes, one
 * subscribes. Pub/sub keeps nothing for a subscriber that is away, so when the
 * subscription comes back after a drop the node is told to forget what it cached
 * (`reset`), once it is subscribed again: a notice published after that is received, one
 * published before is covered by the reset.
 *
 * Publishing waits at most `publishTimeoutMs` for Redis. A notice that could not be sent
 * meanwhile stays queued in the client and goes out when Redis is back; the caller is
 * told it was not delivered in time (the admin write answers `change_not_applied`).
 */
import { Redis } from "ioredis";
import { decodeNotice, encodeNotice, type ChangeFeed, type ChangeFeedHandlers, type ChangeNotice } from "../ports.js";

export interface RedisChangeFeedOptions {
  url: string;
  channel: string;
  /** This node's id: its own notices are not delivered back to it. */
  node: string;
  publishTimeoutMs?: number;
  /** Connection trouble, for the log (the client reconnects by itself). */
  onError?: (err: Error) => void;
}

export class RedisChangeFeed implements ChangeFeed {
  readonly kind = "redis";
  readonly #o: RedisChangeFeedOptions;
  readonly #pub: Redis;
  #sub: Redis | undefined;

  constructor(o: RedisChangeFeedOptions) {
    this.#o = o;
    // Retry forever: a queued notice must go out when Redis is back, not be dropped after N tries.
    this.#pub = new Redis(o.url, { lazyConnect: true, maxRetriesPerRequest: null });
    this.#pub.on("error", (err: Error) => o.onError?.(err));
  }

  async publish(notice: ChangeNotice): Promise<void> {
    const sent = this.#pub.publish(this.#o.channel, encodeNotice(this.#o.node, notice));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("Redis did not take the change notice in time")), this.#o.publishTimeoutMs ?? 2_000);
    });
    try {
      await Promise.race([sent, late]);
    } finally {
      clearTimeout(timer);
      // Still queued: it is sent on reconnect; nobody waits for it any more.
      sent.catch(() => undefined);
    }
  }

  async start(handlers: ChangeFeedHandlers): Promise<void> {
    // Named, so an operator (or a test) can tell the feed's subscriber among Redis's clients.
    // autoResubscribe off: ioredis's own re-subscription leaves its promise unhandled, and a
    // close before Redis answers it rejected that promise with nobody listening (an unhandled
    // rejection ends the process). The 'ready' handler below re-subscribes instead.
    const sub = new Redis(this.#o.url, {
      lazyConnect: true,
      maxRetriesPerRequest: null,
      autoResubscribe: false,
      connectionName: `switchyard-feed-${this.#o.channel}`,
    });
    this.#sub = sub;
    sub.on("error", (err: Error) => this.#o.onError?.(err));
    sub.on("message", (channel: string, text: string) => {
      if (channel !== this.#o.channel) return;
      const notice = decodeNotice(this.#o.node, text);
      if (notice) handlers.change(notice);
    });
    let lost = false;
    sub.on("close", () => (lost = true));
    sub.on("ready", () => {
      if (!lost) return;
      lost = false;
      // Once this SUBSCRIBE resolves notices are flowing again, and the reset covers everything before.
      sub.subscribe(this.#o.channel).then(
        () => handlers.reset(),
        (err: Error) => {
          this.#o.onError?.(err);
          handlers.reset();
        },
      );
    });
    await sub.connect();
    await this.#pub.connect();
    await sub.subscribe(this.#o.channel);
  }

  async close(): Promise<void> {
    // QUIT on a live connection; a client still trying to connect would queue QUIT forever, so it is cut instead.
    const quit = async (r: Redis | undefined): Promise<void> => {
      if (!r || r.status === "end") return;
      if (r.status === "ready") await r.quit().catch(() => r.disconnect());
      else r.disconnect();
    };
    await Promise.all([quit(this.#sub), quit(this.#pub)]);
  }
}
