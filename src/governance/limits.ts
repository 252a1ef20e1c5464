/**
 * Rate and concurrency limits (docs/governance.md#limits): requests and tokens per
 * minute, hour and day, and requests in flight, for every account on the key's chain
 * that states them, for the API key itself, and per model pattern.
 *
 * One request is ONE `meter.take`: every line of every limit that applies, checked and
 * counted all or none in one atomic step, so N parallel requests against a limit of K
 * admit exactly K on any engine, and a request refused by one limit never occupies
 * another's room.
 *
 * - A parent's limit counts its whole subtree's traffic, because every request below it
 *   counts on the parent's key (`limitChain` keeps each account's own limits).
 * - Minute and hour windows are sliding, counted in 12 buckets (5 s and 5 min): an event
 *   counts for between 55 and 60 minutes (resp. seconds) after it happened, so over any
 *   window a limit admits at most its value and, right after a burst ages out, up to one
 *   bucket early (the documented error, 1/12 of the window).
 * - Day windows are natural days in the account's time zone (`policy.timeZone`,
 *   calendar.ts): they reset at local midnight, and a new day is a new stored window, so
 *   a late settlement corrects the day it was counted in, never the next one.
 * - Token lines take the request's estimate (input + output; at most the limit itself, so
 *   a request estimated above a limit fits an empty window rather than never) and are
 *   corrected to the actual usage when the request settles, at the very bucket they were
 *   counted in.
 *
 * Everything that does not depend on the request is worked out once per subject (a
 * principal's folded policy and key) and once per served model, and kept while the
 * subject lives (WeakMap; the model part bounded): per request only numbers are filled in.
 */
import type { ErrorCode } from "../canonical/error-codes.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import type { KeyLimits } from "../storage/ports.js";
import {
  refuse,
  type AdmissionCheck,
  type AdmissionOutcome,
  type AdmissionRequest,
  type AdmissionSubject,
  type CheckResult,
  type Reservation,
} from "./admission.js";
import { calendarOf, type Calendar } from "./calendar.js";
import { newHolderId } from "./holder-id.js";
import {
  finishOn,
  takeOn,
  type FinishRequest,
  type HoldLine,
  type Meter,
  type SlidingWindow,
  type TakeResult,
  type WindowLine,
  type WindowMark,
  type WindowSpec,
} from "./counters.js";
import type { LimitField, LimitSet } from "./policy.js";
import { withMembers } from "../canonical/shared-shape.js";

/** 12 buckets of 5 s: an event counts for 55–60 s. */
export const MINUTE: SlidingWindow = { kind: "sliding", windowMs: 60_000, buckets: 12 };
/** 12 buckets of 5 min: an event counts for 55–60 min. */
export const HOUR: SlidingWindow = { kind: "sliding", windowMs: 3_600_000, buckets: 12 };

/**
 * How long a request's concurrency slots outlive a process that died holding them. Longer
 * than a request should run: an upstream attempt may take `timeout_ms` (10 minutes by
 * default) and a failover several, and a slot that lapses under a live stream lets one
 * request too many in. A stream longer than this keeps running but no longer holds its
 * slot (docs/governance.md#concurrency).
 */
export const DEFAULT_HOLD_TTL_MS = 60 * 60_000;

/** Which limit, and who set it: what the refusal and `x-switchyard-limit` name. */
export interface LimitSource {
  readonly field: LimitField;
  readonly limit: number;
  /** `account`, `key` or `model:<pattern>`. */
  readonly scope: string;
  /** The account whose limit it is (for a key's own limit: the key's account). */
  readonly accountName: string;
  readonly keyId?: string;
}

/** One window line with everything but the request's numbers filled in. */
interface WindowTemplate extends LimitSource {
  readonly key: string;
  readonly tokens: boolean;
  /** A sliding window, or undefined for the natural day. */
  readonly sliding: SlidingWindow | undefined;
}

interface HoldTemplate extends LimitSource {
  readonly key: string;
}

/** The lines of one subject (and, for per-model lines, one served model). */
interface Lines {
  readonly holds: readonly HoldTemplate[];
  readonly windows: readonly WindowTemplate[];
  /**
   * What a request takes, built once: the hold lines (one slot each) and the keys they
   * release, and the window lines of the last request, reused while the day and the
   * token estimate stay the same (the engines never change a line they are given).
   */
  readonly take: {
    holds: readonly HoldLine[];
    release: readonly string[];
    last?: { day: WindowSpec | undefined; tokens: number; windows: readonly WindowLine[] };
  };
}

interface SubjectPlan {
  /** The account and key lines, whatever the model. */
  readonly base: Lines;
  readonly calendar: Calendar;
  /** Every line for a served model (the base and the matching per-model ones); undefined when no account on the chain states per-model limits. */
  readonly forModel: ((model: string) => Lines) | undefined;
}

export interface LimitsCheckOptions {
  /** Epoch ms, for finding the natural day; tests hand-move it together with the engine's clock. */
  now?: () => number;
  /** See DEFAULT_HOLD_TTL_MS. */
  holdTtlMs?: number;
}

const EMPTY: Lines = linesFrom([], []);

function linesFrom(holds: readonly HoldTemplate[], windows: readonly WindowTemplate[]): Lines {
  return { holds, windows, take: { holds: holds.map((h) => ({ key: h.key, n: 1, limit: h.limit })), release: holds.map((h) => h.key) } };
}
/** Models remembered per subject; past it the memo starts over (a subject rarely sees more than a handful). */
const MAX_MODELS_PER_SUBJECT = 64;

const WINDOW_FIELDS: ReadonlyArray<{ field: LimitField; tokens: boolean; sliding: SlidingWindow | undefined }> = [
  { field: "rpm", tokens: false, sliding: MINUTE },
  { field: "rph", tokens: false, sliding: HOUR },
  { field: "rpd", tokens: false, sliding: undefined },
  { field: "tpm", tokens: true, sliding: MINUTE },
  { field: "tph", tokens: true, sliding: HOUR },
  { field: "tpd", tokens: true, sliding: undefined },
];

/**
 * The stored key of a limit. Every key of a chain carries the root account's id as its
 * Redis Cluster hash tag, so one request's lines lie in one slot (one script, one round trip).
 */
export function limitKey(rootId: string, field: LimitField, owner: { accountId: string } | { keyId: string }, pattern?: string): string {
  const who = "keyId" in owner ? `key:${owner.keyId}` : owner.accountId;
  return `{${rootId}}:${field}:${who}${pattern === undefined ? "" : `:model:${pattern}`}`;
}

function linesOf(
  rootId: string,
  set: LimitSet | KeyLimits,
  source: Omit<LimitSource, "field" | "limit">,
  owner: { accountId: string } | { keyId: string },
  pattern?: string,
): Lines {
  const holds: HoldTemplate[] = [];
  const windows: WindowTemplate[] = [];
  if (set.concurrency !== undefined)
    holds.push(withMembers(source, { field: "concurrency" as const, limit: set.concurrency, key: limitKey(rootId, "concurrency", owner, pattern) }));
  for (const w of WINDOW_FIELDS) {
    const limit = set[w.field];
    if (limit !== undefined)
      windows.push(withMembers(source, { field: w.field, limit, key: limitKey(rootId, w.field, owner, pattern), tokens: w.tokens, sliding: w.sliding }));
  }
  return linesFrom(holds, windows);
}

function concat(parts: readonly Lines[]): Lines {
  const nonEmpty = parts.filter((p) => p.holds.length > 0 || p.windows.length > 0);
  if (nonEmpty.length === 0) return EMPTY;
  if (nonEmpty.length === 1) return nonEmpty[0]!;
  return linesFrom(
    nonEmpty.flatMap((p) => p.holds),
    nonEmpty.flatMap((p) => p.windows),
  );
}

function planOf(subject: AdmissionSubject): SubjectPlan {
  const chain = subject.chain;
  const rootId = chain.length > 0 ? chain[chain.length - 1]!.id : subject.accountId;
  const nameOf = (id: string): string => chain.find((a) => a.id === id)?.name ?? id;
  const accountName = nameOf(subject.accountId);
  const parts: Lines[] = [];
  // The key's own limits first: the narrowest, so a refusal names it when several are full.
  if (subject.keyLimits) parts.push(linesOf(rootId, subject.keyLimits, { scope: "key", accountName, keyId: subject.apiKeyId }, { keyId: subject.apiKeyId }));
  const limitChain = subject.policy?.limitChain ?? [];
  for (const a of limitChain) parts.push(linesOf(rootId, a.limits, { scope: "account", accountName: nameOf(a.accountId) }, { accountId: a.accountId }));
  const patterned = limitChain.flatMap((a) =>
    Object.entries(a.limits.per_model ?? {}).map(([pattern, set]) => ({
      matcher: subject.policy!.perModelLimits.get(pattern)?.matcher ?? compileModelPatterns([pattern]),
      lines: linesOf(rootId, set, { scope: `model:${pattern}`, accountName: nameOf(a.accountId) }, { accountId: a.accountId }, pattern),
    })),
  );
  const base = concat(parts);
  let forModel: SubjectPlan["forModel"];
  if (patterned.length > 0) {
    const memo = new Map<string, Lines>();
    forModel = (model) => {
      let lines = memo.get(model);
      if (!lines) {
        if (memo.size >= MAX_MODELS_PER_SUBJECT) memo.clear();
        lines = concat([base, ...patterned.filter((p) => p.matcher.matches(model)).map((p) => p.lines)]);
        memo.set(model, lines);
      }
      return lines;
    };
  }
  return { base, calendar: calendarOf(subject.policy?.timeZone.value ?? "UTC"), forModel };
}

const plans = new WeakMap<AdmissionSubject, SubjectPlan>();

function planFor(subject: AdmissionSubject): SubjectPlan {
  let plan = plans.get(subject);
  if (!plan) plans.set(subject, (plan = planOf(subject)));
  return plan;
}

const NAMES: Record<LimitField, string> = {
  rpm: "requests per minute",
  rph: "requests per hour",
  rpd: "requests per day",
  tpm: "tokens per minute",
  tph: "tokens per hour",
  tpd: "tokens per day",
  concurrency: "requests in flight",
};

/**
 * The `x-switchyard-limit` header: `<limit>=<value>; account=<name>; scope=<scope>`, plus
 * `; key=<key id>` for a key's own limit. Names and patterns are percent-encoded
 * (encodeURIComponent), so any account name fits in a header. Billing's refusals use it too,
 * with `quota.<requests|tokens>.<day|month>`, `spend_caps.<daily|monthly>_micros` and
 * `credit_micros` (what the wallet has left) in place of a limit field.
 */
export function limitHeader(s: Omit<LimitSource, "field"> & { readonly field: string }): string {
  const key = s.keyId === undefined ? "" : `; key=${s.keyId}`;
  return `${s.field}=${s.limit}; account=${encodeURIComponent(s.accountName)}; scope=${encodeScope(s.scope)}${key}`;
}

function encodeScope(scope: string): string {
  return scope.startsWith("model:") ? `model:${encodeURIComponent(scope.slice(6))}` : scope;
}

function whose(s: LimitSource): string {
  if (s.scope === "key") return `API key ${s.keyId} (account '${s.accountName}')`;
  if (s.scope.startsWith("model:")) return `Account '${s.accountName}' for models '${s.scope.slice(6)}'`;
  return `Account '${s.accountName}'`;
}

/**
 * Limits on a Meter. The check's own code is `rate_limit_exceeded`; a full concurrency
 * line refuses with `concurrency_limit_exceeded`. Both are 429 with `Retry-After`
 * (seconds, rounded up; 1 for concurrency, which frees when some request ends) and
 * `x-switchyard-limit` naming the limit and the account that refused.
 */
export function limitsCheck(meter: Meter, opts: LimitsCheckOptions = {}): AdmissionCheck {
  const now = opts.now ?? Date.now;
  const ttlMs = opts.holdTtlMs ?? DEFAULT_HOLD_TTL_MS;
  return {
    code: "rate_limit_exceeded",
    kind: "rate_limit",
    run(subject, request) {
      const plan = planFor(subject);
      const lines = plan.forModel ? plan.forModel(request.model) : plan.base;
      if (lines.holds.length === 0 && lines.windows.length === 0) return undefined;
      const tokens = estimateOf(request);
      const windows = windowLines(lines, tokens, plan.calendar, now);
      const holds = lines.take.holds;
      // A fresh id per request: one the client chose could be shared by two requests, which would then share a slot.
      const holder = newHolderId();
      const outcome = (result: TakeResult): CheckResult => {
        if (!result.granted) {
          if (result.reason === "unknown_balance") throw new Error(`limits: the meter asked for a balance of '${result.key}', which limits never hold against`);
          return refusal(lines, result.key, result.used, result.retryAfterMs, tokens);
        }
        return new LimitReservation(meter, holder, lines.take.release, windows, lines.windows, result.marks);
      };
      const taken = takeOn(meter, { holder, ttlMs, holds, windows });
      return taken instanceof Promise ? taken.then(outcome) : outcome(taken);
    },
  };
}

/** The window lines of a request estimated at `tokens`: the last request's when its day and estimate were the same. */
function windowLines(lines: Lines, tokens: number, calendar: Calendar, now: () => number): readonly WindowLine[] {
  const templates = lines.windows;
  let day: WindowSpec | undefined;
  for (const w of templates)
    if (!w.sliding) {
      day = calendar.day(now());
      break;
    }
  const last = lines.take.last;
  if (last && last.day === day && last.tokens === tokens) return last.windows;
  const windows: WindowLine[] = templates.map((w) => ({
    key: w.key,
    limit: w.limit,
    // An estimate above the limit itself counts as the whole limit: such a request fits an empty window (and settles on what it used) instead of never.
    n: w.tokens ? Math.min(tokens, w.limit) : 1,
    window: w.sliding ?? day!,
  }));
  lines.take.last = { day, tokens, windows };
  return windows;
}

/** What a request is expected to use: its estimate, or nothing beyond one request. */
function estimateOf(request: AdmissionRequest): number {
  const e = request.estimate;
  return e ? Math.max(0, Math.round(e.inputTokens) + Math.round(e.outputTokens)) : 0;
}

function refusal(lines: Lines, key: string, used: number, retryAfterMs: number | undefined, tokens: number) {
  const hold = lines.holds.find((h) => h.key === key);
  const win = hold ? undefined : lines.windows.find((w) => w.key === key);
  const source: LimitSource | undefined = hold ?? win;
  if (!source) throw new Error(`limits: the meter refused on '${key}', which this request did not take`);
  const code: ErrorCode = hold ? "concurrency_limit_exceeded" : "rate_limit_exceeded";
  const retryAfter = hold ? 1 : Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000));
  let detail: string;
  if (hold) detail = `has reached its limit of ${source.limit} ${NAMES[source.field]} (concurrency)`;
  else if (win!.tokens)
    detail = `has used ${used} of its ${source.limit} ${NAMES[source.field]} (${source.field}); this request is estimated at ${tokens} tokens`;
  else detail = `has reached its limit of ${source.limit} ${NAMES[source.field]} (${source.field})`;
  return refuse(`${whose(source)} ${detail}. Retry in ${retryAfter} s.`, {
    code,
    headers: { "retry-after": String(retryAfter), "x-switchyard-limit": limitHeader(source) },
  });
}

const NO_CARRY: FinishRequest["carry"] = [];

/** What one admitted request took: its holds end and its token counts are corrected when it ends. */
class LimitReservation implements Reservation {
  #ended = false;

  constructor(
    private readonly meter: Meter,
    private readonly holder: string,
    private readonly releaseKeys: readonly string[],
    private readonly windows: readonly WindowLine[],
    private readonly templates: readonly WindowTemplate[],
    private readonly marks: readonly WindowMark[],
  ) {}

  /** Token lines move from the estimate to what the upstream reported; request lines stand (the request ran). */
  settle(outcome: AdmissionOutcome): void | Promise<void> {
    const actual = outcome.usage.inputTokens + outcome.usage.outputTokens;
    return this.#end((i) => (this.templates[i]!.tokens ? actual - this.windows[i]!.n : 0));
  }

  /** The request never ran: every count it added is taken back. */
  release(): void | Promise<void> {
    return this.#end((i) => -this.windows[i]!.n);
  }

  #end(deltaOf: (i: number) => number): void | Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    const corrections: Array<{ key: string; window: WindowSpec; mark: WindowMark; delta: number }> = [];
    for (let i = 0; i < this.windows.length; i++) {
      const delta = deltaOf(i);
      if (delta !== 0) corrections.push({ key: this.windows[i]!.key, window: this.windows[i]!.window, mark: this.marks[i]!, delta });
    }
    if (this.releaseKeys.length === 0 && corrections.length === 0) return;
    return finishOn(this.meter, { holder: this.holder, release: this.releaseKeys, corrections, carry: NO_CARRY });
  }
}
