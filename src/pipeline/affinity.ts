/**
 * Cache affinity (docs/protocols.md#session-identity): every request of one session gets the same
 * `prompt_cache_key`, whatever the ingress, and the same upstream key while it
 * stays healthy. The key is scoped per account: the session identity is hashed
 * together with the account id, so two accounts never share one.
 *
 * Session identity, in order:
 *  1. the client's own `prompt_cache_key`;
 *  2. Codex session headers (`session_id`, `session-id`, `x-client-request-id`… carry the conversation id);
 *  3. Claude Code: `x-claude-code-session-id`, else `metadata.user_id` (JSON `session_id`, or legacy `_session_<uuid>`),
 *     with the sub-agent from `x-claude-code-agent-id` (default `main`) and the model;
 *  4. otherwise a hash of model family + system prompt + first user message.
 */
import { createHash, hash as digestOf, type Hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { fieldBytes, peekBody, readField } from "./json-peek.js";
import { sampledKey } from "./sampled-key.js";
import type { IncomingHttpHeaders } from "node:http";
import type { Principal } from "../governance/principals.js";
import type { Exchange } from "./exchange.js";

export interface Affinity {
  /** The scoped key, or undefined when nothing identifies a session. */
  key: string | undefined;
}

/** Formats a digest as a UUID-shaped string (what upstreams expect a cache key to look like). */
function uuidFrom(parts: readonly string[]): string {
  // One-shot: a third of the incremental hash's cost on inputs this small (each part ends in a NUL).
  const hex = digestOf("sha256", parts.join("\0") + "\0", "hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/**
 * Keys already derived: every turn of a session asks again for the same one. Bounded; the
 * entries are session ids and the digests made of them, nothing secret.
 */
const scopedKeys = new LRUCache<string, string>({ max: 10_000 });

export function scopedCacheKey(accountId: string, identity: string): string {
  const memo = `${accountId}\0${identity}`;
  let key = scopedKeys.get(memo);
  if (key === undefined) {
    key = uuidFrom(["switchyard-cache-v1", accountId, identity]);
    scopedKeys.set(memo, key);
  }
  return key;
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() ? s.trim() : undefined;
}

/** Claude Code's session id from `metadata.user_id` (docs/protocols.md#claude-code). */
export function claudeSessionFromUserId(userId: unknown): string | undefined {
  if (typeof userId !== "string" || !userId) return undefined;
  if (userId.startsWith("{")) {
    try {
      const v = JSON.parse(userId) as { session_id?: unknown };
      if (typeof v.session_id === "string" && v.session_id) return v.session_id;
    } catch {
      return undefined;
    }
    return undefined;
  }
  return /_session_([a-f0-9-]+)$/.exec(userId)?.[1];
}

/** "claude-sonnet-4-5-20250929" → "claude-sonnet"; "gpt-5.4-mini" → "gpt". Keeps sessions apart across families. */
export function modelFamily(model: string): string {
  const m = /^(claude-[a-z]+|[a-z]+)/i.exec(model);
  return (m?.[1] ?? model).toLowerCase();
}

export interface SessionSources {
  headers: IncomingHttpHeaders;
  clientCacheKey: unknown;
  /** Claude Code's `metadata.user_id`, read only when no header names the session (most of its requests have one). */
  metadataUserId: () => unknown;
  model: string;
  /** Lazily computed digest of the system prompt and first user message, the fallback identity. */
  promptDigest: () => string | undefined;
}

export function sessionIdentity(s: SessionSources): string | undefined {
  if (typeof s.clientCacheKey === "string" && s.clientCacheKey) return `client:${s.clientCacheKey}`;
  const codex = header(s.headers, "session_id") ?? header(s.headers, "session-id") ?? header(s.headers, "conversation_id");
  if (codex) return `codex:${codex}`;
  const claude = header(s.headers, "x-claude-code-session-id") ?? claudeSessionFromUserId(s.metadataUserId());
  if (claude) {
    const agent = header(s.headers, "x-claude-code-agent-id") ?? "main";
    return `claude:${claude}:agent:${agent}:model:${s.model}`;
  }
  const digest = s.promptDigest();
  if (digest) return `prompt:${modelFamily(s.model)}:${digest}`;
  return undefined;
}

interface BodyReader {
  read(name: string): unknown;
  /** The raw bytes of a top-level field's value. */
  bytes(name: string): Buffer | undefined;
  /** The raw bytes of each element of a top-level array, lazily. */
  itemBytes(name: string): Iterable<Buffer>;
}

/** Affinity for the passthrough lane, reading only the top-level fields it needs. */
export function affinityKey(ex: Exchange, principal: Principal, body: BodyReader, model: string): Affinity {
  const identity = sessionIdentity({
    headers: ex.headers,
    clientCacheKey: body.read("prompt_cache_key"),
    metadataUserId: () => {
      const metadata = body.read("metadata");
      return metadata && typeof metadata === "object" ? (metadata as Record<string, unknown>).user_id : undefined;
    },
    model,
    promptDigest: () => promptDigests.of(ex.protocol, body),
  });
  return { key: identity ? scopedCacheKey(principal.account.id, identity) : undefined };
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content.map((p) => (p && typeof p === "object" && typeof (p as { text?: unknown }).text === "string" ? (p as { text: string }).text : "")).join("\n");
}

/**
 * Feeds the raw content bytes of the first user message of a list of
 * messages/items, and of every system/developer one before it, into `hash`.
 * Each element is peeked, never decoded; returns how many elements it read.
 */
function hashLeadingMessages(items: Iterable<Buffer>, hash: Hash): number {
  let read = 0;
  for (const item of items) {
    read++;
    const peek = peekBody(item);
    if (!peek) continue;
    const role = readField(item, peek, "role");
    if (role !== "system" && role !== "developer" && role !== "user") continue;
    const content = fieldBytes(item, peek, "content");
    if (content) {
      // A plain string is hashed as bytes; content parts are decoded to their text so a
      // `cache_control` marker that moves to the newest turn does not change the digest.
      hash.update(content[0] === 0x22 ? content : textOf(JSON.parse(content.toString("utf8")))).update("\0");
    }
    if (role === "user") break;
  }
  return read;
}

/**
 * A digest of the system prompt and first user message: the session identity of
 * last resort. String contents are hashed as raw bytes rather than decoded text (a
 * client serialises the same conversation the same way every turn); content parts
 * and Anthropic's `system` are decoded to their text, leaving out `cache_control`
 * markers and Claude Code's per-request billing block.
 */
export function promptDigest(protocol: Exchange["protocol"], body: BodyReader): string | undefined {
  const hash = createHash("sha256");
  let fed = 0;
  if (protocol === "anthropic-messages") {
    const system = body.read("system");
    const texts = Array.isArray(system) ? system.map((b) => textOf([b])).filter((t) => !t.startsWith("x-anthropic-billing-header:")) : [textOf(system)];
    for (const t of texts) {
      if (!t) continue;
      hash.update(t).update("\0");
      fed++;
    }
    fed += hashLeadingMessages(body.itemBytes("messages"), hash);
  } else if (protocol === "openai-chat") {
    fed += hashLeadingMessages(body.itemBytes("messages"), hash);
  } else {
    const instructions = body.bytes("instructions");
    if (instructions) {
      hash.update(instructions).update("\0");
      fed++;
    }
    // `input` is a list of items or the bare-string shorthand for one user message.
    const items = hashLeadingMessages(body.itemBytes("input"), hash);
    fed += items;
    const input = items === 0 ? body.bytes("input") : undefined;
    if (input) {
      hash.update(input);
      fed++;
    }
  }
  return fed > 0 ? hash.digest("hex") : undefined;
}

/**
 * The Codex backend reads the session from `session_id` (older clients) or
 * `session-id` (newer ones, docs/protocols.md#codex-headers); both carry the scoped key so
 * the backend's routing agrees with the body's `prompt_cache_key`.
 */
export function setCodexSession(headers: Record<string, string>, key: string): void {
  headers.session_id = key;
  headers["session-id"] = key;
}

/**
 * The raw bytes {@link promptDigest} reads, in order: Anthropic's `system` or Responses'
 * `instructions` (empty when absent), then the list's elements up to and including the first
 * user message, then, for Responses whose `input` is not a list, `input`. Equal sources give
 * the same digest. Only the elements' roles are read, never their content.
 */
function digestSources(protocol: Exchange["protocol"], body: BodyReader): Buffer[] {
  // The same branches as promptDigest's.
  const responses = protocol !== "anthropic-messages" && protocol !== "openai-chat";
  const sources = [(protocol === "anthropic-messages" ? body.bytes("system") : responses ? body.bytes("instructions") : undefined) ?? NONE];
  let items = 0;
  for (const item of body.itemBytes(responses ? "input" : "messages")) {
    items++;
    sources.push(item);
    const peek = peekBody(item);
    if (peek && readField(item, peek, "role") === "user") break;
  }
  if (items === 0 && responses) sources.push(body.bytes("input") ?? NONE);
  return sources;
}

const NONE = Buffer.alloc(0);

/** Bytes sampled from each source for a cache key; a kept entry is still compared whole before use. */
const SAMPLES = 16;

/** The sources' sampled keys folded into one number (FNV-1a's step); the protocol is compared on the kept entry instead. */
function fingerprint(sources: readonly Buffer[]): number {
  let key = sources.length;
  for (const b of sources) key = Math.imul(key ^ sampledKey(b, SAMPLES), 0x01000193);
  return key >>> 0;
}

interface KeptDigest {
  protocol: Exchange["protocol"];
  sources: Buffer[];
  digest: string | undefined;
}

/**
 * Prompt digests already computed, found by the bytes they were computed from. Every turn of a
 * conversation repeats its system prompt and first user message byte for byte, so a client that
 * names no session has its digest hashed once per conversation, not on every turn: on the
 * bench's 40 KB Chat body, whose 17 KB system prompt was hashed and whose developer message was
 * decoded on every request, that was about a tenth of the gateway's JavaScript time in a CPU profile
 * (docs/architecture.md#cache-affinity).
 *
 * Sources are kept the second time their fingerprint is met (a copy of their bytes), so a
 * conversation of one turn costs a fingerprint and nothing more; an Anthropic `system` whose
 * billing block changes on every request never matches, and is simply hashed each time.
 */
export class PromptDigests {
  readonly #once = new LRUCache<number, true>({ max: 1024 });
  readonly #kept: LRUCache<number, KeptDigest>;
  #hits = 0;

  /** Digests answered from the cache (for tests). */
  get hits(): number {
    return this.#hits;
  }

  constructor(keptBytes: number = 4 * 1024 * 1024) {
    this.#kept = new LRUCache({ maxSize: keptBytes, sizeCalculation: (e) => e.sources.reduce((n, b) => n + b.length, 0) || 1 });
  }

  /** `promptDigest(protocol, body)`, from the cache when the same sources were digested before. */
  of(protocol: Exchange["protocol"], body: BodyReader): string | undefined {
    const sources = digestSources(protocol, body);
    const key = fingerprint(sources);
    const kept = this.#kept.get(key);
    if (kept !== undefined && kept.protocol === protocol && kept.sources.length === sources.length && kept.sources.every((b, i) => b.equals(sources[i]!))) {
      this.#hits++;
      return kept.digest;
    }
    const digest = promptDigest(protocol, body);
    if (this.#once.has(key)) {
      this.#once.delete(key);
      this.#kept.set(key, { protocol, sources: sources.map((b) => Buffer.from(b)), digest });
    } else this.#once.set(key, true);
    return digest;
  }
}

const promptDigests = new PromptDigests();
