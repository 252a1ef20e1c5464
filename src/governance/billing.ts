/**
 * Money on the hot path (docs/billing.md): the dual-track billing check and the balance
 * views it reserves against.
 *
 * A request is on one of two tracks. On the **quota** track a usage allowance of every
 * account on the chain that states one covers it and no money moves; when an allowance
 * is used up the request is refused (`quota_exceeded`) or, where the policy says
 * `pay_as_you_go`, moves to the **credit** track: its cost is debited from the payer's
 * wallet (the nearest account with `payer: self`), within every spend cap on the chain,
 * and, when the wallet is prepaid (an overdraft is set), only if its unexpired credit
 * plus the overdraft covers the estimated cost.
 *
 * All of it is one `meter.take` per request: the estimated cost held on the payer's
 * balance view (checked against the stored view, not a limit), and the quota or spend
 * window lines. No database round trip, except the rare load of a view nobody holds
 * (`unknown_balance`). Settlement releases the hold and carries the actual cost in this
 * node's name until the usage batch that debits it commits; the recorder then calls
 * `debited`, which rebases the view to the new balance and drops the carried amount in
 * one step, so the view never counts a debit twice or not at all.
 */
import type { ErrorCode } from "../canonical/error-codes.js";
import { compileModelPatterns, type ModelMatcher } from "../canonical/model-pattern.js";
import type { LedgerRepo, Wallet } from "../storage/ports.js";
import { refuse, type AdmissionCheck, type AdmissionOutcome, type AdmissionSubject, type CheckResult, type Charge, type Reservation } from "./admission.js";
import { calendarOf, type Calendar } from "./calendar.js";
import { newHolderId } from "./holder-id.js";
import { limitHeader } from "./limits.js";
import {
  finishOn,
  takeOn,
  type FinishRequest,
  type FixedWindow,
  type HoldLine,
  type Meter,
  type TakeRequest,
  type TakeResult,
  type WindowLine,
  type WindowMark,
} from "./counters.js";
import type { Pricer } from "./pricing.js";
import type { EffectivePolicy } from "./policy.js";

export interface BillingOptions {
  meter: Meter;
  pricer: Pricer;
  /** Where a balance view is loaded from when no engine holds it. */
  ledger: Pick<LedgerRepo, "wallet">;
  /** This gateway process: settled costs are carried in its name (`node:<nodeId>`) until its recorder writes them. */
  nodeId: string;
  /** How long a request's hold outlives a process that died holding it (default 15 min, as concurrency slots). */
  holdTtlMs?: number;
  /**
   * How long a settled cost stays counted in the view without its ledger row (default
   * 10 min): the time the store may be unreachable before a wallet could be overspent
   * by what this node settled meanwhile, and how long a crashed node's settled costs
   * keep counting (they are lost with its unwritten usage records, docs/billing.md).
   */
  carryTtlMs?: number;
  /** A loaded view is reloaded at least this often (default 60 s), so a node not told of a credit movement catches up. */
  viewMaxAgeMs?: number;
  now?: () => number;
}

export const DEFAULT_HOLD_TTL_MS = 15 * 60_000;
export const DEFAULT_CARRY_TTL_MS = 10 * 60_000;
export const DEFAULT_VIEW_MAX_AGE_MS = 60_000;

/** A wallet after a usage batch's debits committed, with what this node had carried for it in that batch. */
export interface DebitedWallet extends Wallet {
  accountId: string;
  carriedMicros: number;
}

interface QuotaLine {
  accountId: string;
  per: "day" | "month";
  calendar: Calendar;
  matcher: ModelMatcher | undefined;
  requests?: { key: string; limit: number };
  tokens?: { key: string; limit: number };
}

interface CapLine {
  accountId: string;
  per: "day" | "month";
  calendar: Calendar;
  key: string;
  limit: number;
}

/** What billing needs of a subject, worked out once per subject (a principal's lifetime). */
interface Plan {
  payerId: string;
  /** The payer's overdraft; undefined = postpaid (no hold, never refused for credit). */
  overdraft: number | undefined;
  balanceKey: string;
  payg: boolean;
  quotas: readonly QuotaLine[];
  caps: readonly CapLine[];
  names: ReadonlyMap<string, string>;
  /** The reservation of a postpaid request without spend caps: nothing held, so one object serves them all. */
  postpaid: Reservation;
  /** What a credit-track request releases when it ends: the balance view's key when it holds on it. */
  release: readonly string[];
  /** The credit-track lines of the last request, reused while its estimated cost and every window stay the same (the engines never change a line they are given). */
  last?: { cost: number; holds: readonly HoldLine[]; windows: readonly WindowLine[] };
}

export class Billing {
  readonly #meter: Meter;
  readonly #pricer: Pricer;
  readonly #ledger: Pick<LedgerRepo, "wallet">;
  readonly #holder: string;
  readonly #holdTtlMs: number;
  readonly #carryTtlMs: number;
  readonly #viewMaxAgeMs: number;
  readonly #now: () => number;
  readonly #plans = new WeakMap<AdmissionSubject, Plan>();
  /** Payers this node has seen a prepaid request for: their view key and overdraft, for rebasing after debits and credit movements. */
  readonly #views = new Map<string, { key: string; overdraft: number }>();
  /** Loads in flight, one per payer: a burst of requests for an unloaded view reads the store once. */
  readonly #loading = new Map<string, Promise<void>>();

  constructor(opts: BillingOptions) {
    this.#meter = opts.meter;
    this.#pricer = opts.pricer;
    this.#ledger = opts.ledger;
    this.#holder = `node:${opts.nodeId}`;
    this.#holdTtlMs = opts.holdTtlMs ?? DEFAULT_HOLD_TTL_MS;
    this.#carryTtlMs = opts.carryTtlMs ?? DEFAULT_CARRY_TTL_MS;
    this.#viewMaxAgeMs = opts.viewMaxAgeMs ?? DEFAULT_VIEW_MAX_AGE_MS;
    this.#now = opts.now ?? Date.now;
  }

  /** The holder settled costs are carried under on this node. */
  get holder(): string {
    return this.#holder;
  }

  /** The admission check; compose it after the base checks (main.ts). */
  readonly check: AdmissionCheck = {
    code: "insufficient_credit",
    kind: "billing",
    // A request without an estimate expects no usage (count_tokens asks only who may call): nothing to bill.
    run: (subject, request) => (request.estimate ? this.#run(subject, request.model, request.estimate.inputTokens, request.estimate.outputTokens) : undefined),
  };

  /**
   * After a usage batch and its debits committed (usage-recorder.ts): each wallet's view
   * becomes the new balance plus the overdraft, and what this node carried for the batch
   * is dropped in the same step.
   */
  async debited(wallets: readonly DebitedWallet[]): Promise<void> {
    for (const w of wallets) {
      const view = this.#views.get(w.accountId);
      if (!view) continue;
      await this.#meter.rebase({
        key: view.key,
        balance: w.spendableMicros + view.overdraft,
        seq: w.seq,
        validUntil: this.#validUntil(w.validUntil),
        drop: w.carriedMicros > 0 ? { holder: this.#holder, n: w.carriedMicros } : undefined,
      });
    }
  }

  /** After a credit movement on `accountId` (top-up, grant, clawback): reloads its view if this node keeps one. */
  async reload(accountId: string): Promise<void> {
    const view = this.#views.get(accountId);
    if (view) await this.#load(accountId, view.key, view.overdraft);
  }

  #validUntil(expiresAt: string | null): number {
    const cap = this.#now() + this.#viewMaxAgeMs;
    if (expiresAt === null) return cap;
    return Math.min(cap, Date.parse(expiresAt));
  }

  #load(payerId: string, key: string, overdraft: number): Promise<void> {
    let loading = this.#loading.get(payerId);
    if (!loading) {
      loading = (async () => {
        const w = await this.#ledger.wallet(payerId, new Date(this.#now()).toISOString());
        await this.#meter.rebase({ key, balance: w.spendableMicros + overdraft, seq: w.seq, validUntil: this.#validUntil(w.validUntil) });
      })().finally(() => this.#loading.delete(payerId));
      this.#loading.set(payerId, loading);
    }
    return loading;
  }

  #plan(subject: AdmissionSubject): Plan {
    let plan = this.#plans.get(subject);
    if (!plan) {
      plan = planOf(subject);
      this.#plans.set(subject, plan);
    }
    return plan;
  }

  /**
   * Answered within the call on an in-process meter (Meter `takeNow`), as admission is
   * (admission.ts `admitAtOnce`); a promise on a shared one, or while a balance view loads.
   */
  #run(subject: AdmissionSubject, model: string, inputTokens: number, outputTokens: number): CheckResult | Promise<CheckResult> {
    const plan = this.#plan(subject);
    const now = this.#now();
    const tokens = Math.max(0, Math.ceil(inputTokens + outputTokens));
    const quotas = quotasFor(plan, model);
    if (quotas.length === 0) return this.#credit(plan, model, subject.policy, inputTokens, outputTokens, now);
    const windows: WindowLine[] = [];
    for (const q of quotas) {
      const window = windowOf(q.per, q.calendar, now);
      if (q.requests) windows.push({ key: q.requests.key, limit: q.requests.limit, n: 1, window });
      if (q.tokens) windows.push({ key: q.tokens.key, limit: q.tokens.limit, n: tokens, window });
    }
    const holder = newHolderId();
    const onQuota = (result: TakeResult): CheckResult | Promise<CheckResult> => {
      if (result.granted) return this.#quotaReservation(plan, holder, windows, result.marks, tokens);
      if (result.reason !== "full") throw new Error(`billing: unexpected take result ${result.reason}`);
      if (!plan.payg) {
        const q = quotas.find((l) => l.requests?.key === result.key || l.tokens?.key === result.key);
        const what = q?.requests?.key === result.key ? `${result.limit} requests` : `${result.limit} tokens`;
        const name = plan.names.get(q?.accountId ?? "") ?? q?.accountId ?? "";
        const field = `quota.${q?.requests?.key === result.key ? "requests" : "tokens"}.${q?.per ?? "day"}`;
        return refusal(
          "quota_exceeded",
          "rate_limit",
          429,
          `Quota track: account '${name}' has used its quota of ${what} per ${q?.per ?? "day"}.`,
          result.retryAfterMs,
          limitHeader({ field, limit: result.limit, accountName: name, scope: "account" }),
        );
      }
      // Pay-as-you-go: the request leaves the quota track for the credit track.
      return this.#credit(plan, model, subject.policy, inputTokens, outputTokens, now);
    };
    const taken = takeOn(this.#meter, { holder, ttlMs: this.#holdTtlMs, holds: [], windows });
    return taken instanceof Promise ? taken.then(onQuota) : onQuota(taken);
  }

  #credit(
    plan: Plan,
    model: string,
    policy: EffectivePolicy | undefined,
    inputTokens: number,
    outputTokens: number,
    now: number,
  ): CheckResult | Promise<CheckResult> {
    const charge: Charge = { payerAccountId: plan.payerId, track: "credit" };
    const cost = Math.max(0, Math.ceil(this.#pricer.estimate(policy, model, { inputTokens, outputTokens })));
    const { holds, windows } = creditLines(plan, cost, now);
    if (plan.overdraft !== undefined) {
      const view = this.#views.get(plan.payerId);
      if (view?.key !== plan.balanceKey || view.overdraft !== plan.overdraft)
        this.#views.set(plan.payerId, { key: plan.balanceKey, overdraft: plan.overdraft });
    }
    if (holds.length === 0 && windows.length === 0) return plan.postpaid;
    const take: TakeRequest = { holder: newHolderId(), ttlMs: this.#holdTtlMs, holds, windows };
    const taken = takeOn(this.#meter, take);
    // A shared meter answers with a promise; a view this node has not loaded (or that lapsed) is read from the store and the take tried again.
    if (taken instanceof Promise || (!taken.granted && taken.reason === "unknown_balance")) return this.#creditAwaited(plan, charge, take, cost, taken);
    return this.#creditOutcome(plan, charge, take, cost, taken);
  }

  async #creditAwaited(plan: Plan, charge: Charge, take: TakeRequest, cost: number, taken: TakeResult | Promise<TakeResult>): Promise<CheckResult> {
    let result = await taken;
    for (let tries = 0; !result.granted && result.reason === "unknown_balance" && tries < 3; tries++) {
      await this.#load(plan.payerId, plan.balanceKey, plan.overdraft ?? 0);
      result = await this.#meter.take(take);
    }
    return this.#creditOutcome(plan, charge, take, cost, result);
  }

  #creditOutcome(plan: Plan, charge: Charge, take: TakeRequest, cost: number, result: TakeResult): CheckResult {
    if (!result.granted) {
      if (result.reason === "unknown_balance") throw new Error(`billing: the balance view of account ${plan.payerId} could not be loaded`);
      if (result.key === plan.balanceKey) {
        const available = Math.max(0, result.limit - result.used);
        const name = plan.names.get(plan.payerId) ?? plan.payerId;
        return refusal(
          "insufficient_credit",
          "billing",
          402,
          `Credit track: account '${name}' has ${available} micro-units of credit available (including its overdraft); this request is estimated at ${cost}.`,
          undefined,
          limitHeader({ field: "credit_micros", limit: available, accountName: name, scope: "wallet" }),
        );
      }
      const cap = plan.caps.find((c) => c.key === result.key);
      const name = plan.names.get(cap?.accountId ?? "") ?? cap?.accountId ?? "";
      return refusal(
        "spend_cap_exceeded",
        "rate_limit",
        429,
        `Credit track: account '${name}' has reached its ${cap?.per === "month" ? "monthly" : "daily"} spend cap of ${result.limit} micro-units.`,
        result.retryAfterMs,
        limitHeader({
          field: cap?.per === "month" ? "spend_caps.monthly_micros" : "spend_caps.daily_micros",
          limit: result.limit,
          accountName: name,
          scope: "account",
        }),
      );
    }
    return this.#creditReservation(plan, charge, take.holder, take.holds, take.windows, result.marks, cost);
  }

  #quotaReservation(plan: Plan, holder: string, windows: readonly WindowLine[], marks: readonly WindowMark[], tokens: number): Reservation {
    const meter = this.#meter;
    const charge: Charge = { payerAccountId: plan.payerId, track: "quota" };
    const tokenKeys = new Set(plan.quotas.flatMap((q) => (q.tokens ? [q.tokens.key] : [])));
    let ended = false;
    const end = (deltaOf: (w: WindowLine) => number): void | Promise<void> => {
      if (ended) return;
      ended = true;
      const corrections = windows.map((w, i) => ({ key: w.key, window: w.window, mark: marks[i]!, delta: deltaOf(w) })).filter((c) => c.delta !== 0);
      if (corrections.length > 0) return finishOn(meter, { holder, release: [], corrections, carry: [] });
    };
    return {
      charge,
      settle: (o: AdmissionOutcome) => {
        const used = o.usage.inputTokens + o.usage.outputTokens;
        // A request that failed without using anything does not use up a request allowance.
        const nothing = used === 0 && o.status >= 400;
        return end((w) => (tokenKeys.has(w.key) ? used - tokens : nothing ? -w.n : 0));
      },
      release: () => end((w) => -w.n),
    };
  }

  #creditReservation(
    plan: Plan,
    charge: Charge,
    holder: string,
    holds: readonly HoldLine[],
    windows: readonly WindowLine[],
    marks: readonly WindowMark[],
    cost: number,
  ): Reservation {
    const meter = this.#meter;
    const carryTtlMs = this.#carryTtlMs;
    const nodeHolder = this.#holder;
    const release = plan.release;
    let ended = false;
    const end = (actual: number): void | Promise<void> => {
      if (ended) return;
      ended = true;
      const delta = actual - cost;
      const corrections = delta === 0 ? NO_CORRECTIONS : windows.map((w, i) => ({ key: w.key, window: w.window, mark: marks[i]!, delta }));
      // The settled cost stays counted in the view, in this node's name, until its debit row is written (`debited`).
      const carry = holds.length > 0 && actual > 0 ? [{ key: plan.balanceKey, holder: nodeHolder, n: actual, ttlMs: carryTtlMs }] : [];
      return finishOn(meter, { holder, release, corrections, carry });
    };
    return {
      charge,
      settle: (o: AdmissionOutcome) => end(Math.max(0, Math.round(o.costMicros ?? 0))),
      release: () => end(0),
    };
  }
}

/** A billing refusal: its code and track, `retry-after` where a window resets, and `x-switchyard-limit` naming what refused and whose it is, as a limit's 429 does. */
function refusal(code: ErrorCode, kind: "billing" | "rate_limit", status: number, message: string, retryAfterMs: number | undefined, limit: string) {
  const headers: Record<string, string> = { "x-switchyard-limit": limit };
  if (retryAfterMs !== undefined) headers["retry-after"] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return refuse(message, { code, kind, status, headers });
}

function windowOf(per: "day" | "month", calendar: Calendar, now: number): FixedWindow {
  return per === "day" ? calendar.day(now) : calendar.month(now);
}

const NO_QUOTAS: readonly QuotaLine[] = [];

/** The quotas that cover `model` (without allocating when none does, the common case). */
function quotasFor(plan: Plan, model: string): readonly QuotaLine[] {
  const covers = (q: QuotaLine): boolean => !q.matcher || q.matcher.matches(model);
  return plan.quotas.some(covers) ? plan.quotas.filter(covers) : NO_QUOTAS;
}
const NO_CORRECTIONS: FinishRequest["corrections"] = [];

/** A credit-track request's lines: its estimated cost held on the payer's view (when prepaid) and counted on every spend cap; the last request's when nothing changed. */
function creditLines(plan: Plan, cost: number, now: number): { holds: readonly HoldLine[]; windows: readonly WindowLine[] } {
  const last = plan.last;
  if (last && last.cost === cost && plan.caps.every((c, i) => windowOf(c.per, c.calendar, now) === last.windows[i]!.window)) return last;
  const windows: WindowLine[] = plan.caps.map((c) => ({ key: c.key, limit: c.limit, n: cost, window: windowOf(c.per, c.calendar, now) }));
  // At least 1, so a wallet already at its overdraft refuses even a request estimated at nothing.
  const holds: HoldLine[] = plan.overdraft === undefined ? [] : [{ key: plan.balanceKey, n: Math.max(1, cost) }];
  plan.last = { cost, holds, windows };
  return plan.last;
}

/**
 * The subject's billing plan: the counter keys share the root's hash tag, so one chain's
 * keys sit in one Redis Cluster slot and one script can take them all.
 */
function planOf(subject: AdmissionSubject): Plan {
  const policy = subject.policy;
  const root = subject.chain[subject.chain.length - 1]?.id ?? subject.accountId;
  const tag = `{${root}}`;
  const credit = policy?.credit;
  const payerId = credit?.payerId || subject.accountId;
  const quotas: QuotaLine[] = [];
  const caps: CapLine[] = [];
  for (const b of credit?.chain ?? []) {
    b.quotas.forEach((q, i) => {
      const base = `${tag}:quota:${b.accountId}:${i}`;
      quotas.push({
        accountId: b.accountId,
        per: q.per,
        calendar: calendarOf(b.timeZone),
        matcher: q.model === undefined ? undefined : compileModelPatterns([q.model]),
        requests: q.requests === undefined ? undefined : { key: `${base}:req`, limit: q.requests },
        tokens: q.tokens === undefined ? undefined : { key: `${base}:tok`, limit: q.tokens },
      });
    });
    if (b.spendCaps.daily_micros !== undefined)
      caps.push({
        accountId: b.accountId,
        per: "day",
        calendar: calendarOf(b.timeZone),
        key: `${tag}:spend:${b.accountId}:day`,
        limit: b.spendCaps.daily_micros,
      });
    if (b.spendCaps.monthly_micros !== undefined)
      caps.push({
        accountId: b.accountId,
        per: "month",
        calendar: calendarOf(b.timeZone),
        key: `${tag}:spend:${b.accountId}:month`,
        limit: b.spendCaps.monthly_micros,
      });
  }
  return {
    payerId,
    overdraft: credit?.walletOverdraft?.value,
    balanceKey: `${tag}:balance:${payerId}`,
    payg: credit?.onQuotaExhausted.value === "pay_as_you_go",
    quotas,
    caps,
    names: new Map(subject.chain.map((a) => [a.id, a.name])),
    postpaid: { charge: { payerAccountId: payerId, track: "credit" }, settle: () => undefined, release: () => undefined },
    release: credit?.walletOverdraft?.value === undefined ? [] : [`${tag}:balance:${payerId}`],
  };
}

/** The billing check over `billing` (main.ts composes it after the base checks). */
export function billingCheck(billing: Billing): AdmissionCheck {
  return billing.check;
}
