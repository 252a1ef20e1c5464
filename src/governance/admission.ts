/**
 * Admission: the checks a request passes before it may use an upstream, and what those
 * checks hold on its behalf while it runs.
 *
 * A check may only look (is the account active?) or may take something that has to be
 * given back (a concurrency slot, later a credit hold). So `admit` returns an
 * `Admission` recording everything taken, and the caller must end it on every exit
 * path, exactly once: `settle(outcome)` when the request ran (whatever its outcome,
 * including an upstream error or a client that went away), `release()` when it never
 * reached an upstream. Both are idempotent and never throw, so they can sit in a
 * `finally` without masking the error that got there. Should a process die before
 * either runs, the counters' time-to-live frees what it held.
 *
 * This module sees the caller only through the structural types below, so governance
 * stays independent of routing's catalog and of the pipeline.
 */
import { GatewayError, type ErrorKind } from "../canonical/errors.js";
import type { ErrorCode } from "../canonical/error-codes.js";
import type { Usage } from "../canonical/usage.js";
import type { KeyLimits } from "../storage/ports.js";
import { allowsAddress, allowsOrigin, deniedBy, type EffectivePolicy } from "./policy.js";

/** Who is asking: an API key and the chain of accounts whose limits apply to it. */
export interface AdmissionSubject {
  accountId: string;
  apiKeyId: string;
  /** The key's account and its ancestors, nearest first. */
  chain: ReadonlyArray<{ id: string; name: string; status: string }>;
  /** Whether every account on the chain allows the model. */
  modelAllowed(model: string): boolean;
  /** The chain's folded policy, for the checks that read more than the model (addresses, origins, denials); absent = nothing beyond the model rule. */
  policy?: EffectivePolicy;
  /** The API key's own limits (governance/limits.ts), beyond its accounts'; absent or null = none. */
  keyLimits?: Readonly<KeyLimits> | null;
}

/** What is being asked for, as far as admission needs to know. */
export interface AdmissionRequest {
  model: string;
  stream: boolean;
  /** The client's address (the socket's peer, or what a trusted proxy reports); undefined when unknown. */
  clientAddress?: string;
  /** The request's Origin header, when it has one (a browser's request). */
  origin?: string;
  /** What the request is expected to use, for token limits, quotas and credit holds; settled on actual usage. Absent = nothing beyond one request. */
  estimate?: TokenEstimate;
}

/**
 * What a request is expected to use before it runs: the input from its size, the output
 * from its `max_tokens` / `max_output_tokens` (or the gateway's default when it names
 * none). Token limits and credit admit on it and settle on what the upstream reports.
 */
export interface TokenEstimate {
  inputTokens: number;
  outputTokens: number;
}

/** Who pays for an admitted request and on which track (docs/billing.md): set by the billing check. */
export interface Charge {
  /** The account whose credit balance pays (the nearest on the chain with a wallet of its own). */
  payerAccountId: string;
  /** `credit`: the balance is debited; `quota`: a usage allowance covers it and no money moves. */
  track: "credit" | "quota";
}

/** How an admitted request ended; what settles a reservation (a quota charges the usage, a slot just frees). */
export interface AdmissionOutcome {
  /** The HTTP status the client got (499 when it went away first). */
  status: number;
  /** Tokens the upstream reported; all zero when it reported none. */
  usage: Usage;
  /** The client disconnected before the answer was complete. */
  aborted: boolean;
  /** The stable error code, when the request failed. */
  errorCode?: string;
  /** What `usage` costs on the served model under the account's prices (integer micro-units); absent = not priced. */
  costMicros?: number;
}

/**
 * Something a check holds for a request. The admission calls exactly one of the two,
 * once; implementations should still tolerate a repeat, since they may be reused.
 */
export interface Reservation {
  /** The request ran and ended with `outcome`. Returns nothing when it ended within the call (an in-process meter). */
  settle(outcome: AdmissionOutcome): void | Promise<void>;
  /** The request never ran: give everything back as if it had not been admitted. */
  release(): void | Promise<void>;
  /** Who pays, when this reservation is the billing check's. */
  readonly charge?: Charge;
}

/** A check's answer that the request may not proceed; `admit` turns it into a GatewayError with the check's code. */
export interface Refusal {
  readonly refused: true;
  message: string;
  param?: string;
  headers?: Record<string, string>;
  /** A check that guards several things (rates and concurrency, quota and credit) names which refused; default: the check's own. */
  code?: ErrorCode;
  kind?: ErrorKind;
  status?: number;
}

export function refuse(
  message: string,
  opts: { param?: string; headers?: Record<string, string>; code?: ErrorCode; kind?: ErrorKind; status?: number } = {},
): Refusal {
  return { refused: true, message, ...opts };
}

export type CheckResult = Reservation | Refusal | undefined;

/**
 * One admission rule. The code and kind live on the check, not on each refusal, so a
 * rule's code is stable and documented in one place. A check sees only the subject and
 * the request, never another check's result, so checks can be added, removed or
 * reordered freely. A check that fails part-way (a counter engine that went down) must
 * give back what it took itself and then throw.
 */
export interface AdmissionCheck {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  run(subject: AdmissionSubject, request: AdmissionRequest): CheckResult | Promise<CheckResult>;
}

/** What was admitted. End it once with `settle` or `release`; later calls of either do nothing. */
export interface Admission {
  /** True once `settle` or `release` has been called. */
  readonly ended: boolean;
  /** Nothing when every reservation ended within the call; otherwise a promise of the end, which never rejects. */
  settle(outcome: AdmissionOutcome): void | Promise<void>;
  release(): void | Promise<void>;
  /** Who pays for the request, when a billing check admitted it. */
  readonly charge: Charge | undefined;
}

export interface AdmitOptions {
  /**
   * Told about a reservation that failed to settle or release. Such a failure is not the
   * request's failure, and the counters' time-to-live will free what it held, so it is
   * reported here (for a log line) instead of thrown at the caller.
   */
  onEndError?: (error: unknown) => void;
}

/**
 * Runs the checks in order. On a refusal, gives back what earlier checks reserved and
 * throws a GatewayError with the refusing check's code; a check that throws is handled
 * the same way and its error rethrown as is.
 */
export async function admit(
  checks: readonly AdmissionCheck[],
  subject: AdmissionSubject,
  request: AdmissionRequest,
  opts: AdmitOptions = {},
): Promise<Admission> {
  return admitAtOnce(checks, subject, request, opts);
}

/**
 * {@link admit}, answered within the call when every check answers within it (the base checks
 * always do; limits and billing do on the in-process meter): a request then passes admission
 * without a turn of the microtask queue per check. A refusal or a throw is always a rejected
 * promise, never thrown at the caller.
 */
export function admitAtOnce(
  checks: readonly AdmissionCheck[],
  subject: AdmissionSubject,
  request: AdmissionRequest,
  opts: AdmitOptions = {},
): Admission | Promise<Admission> {
  return runChecks(checks, 0, [], subject, request, opts);
}

function runChecks(
  checks: readonly AdmissionCheck[],
  from: number,
  held: Reservation[],
  subject: AdmissionSubject,
  request: AdmissionRequest,
  opts: AdmitOptions,
): Admission | Promise<Admission> {
  for (let i = from; i < checks.length; i++) {
    const check = checks[i]!;
    let answer: CheckResult | Promise<CheckResult>;
    try {
      answer = check.run(subject, request);
    } catch (error) {
      return failed(held, error, opts);
    }
    if (answer instanceof Promise) {
      // From here on the admission is a promise: the rest of the checks run when this one answers.
      return answer.then(
        (result) =>
          isRefusal(result) ? failed(held, refusalError(check, result), opts) : runChecks(checks, i + 1, withHeld(held, result), subject, request, opts),
        (error: unknown) => failed(held, error, opts),
      );
    }
    if (answer === undefined) continue;
    if (isRefusal(answer)) return failed(held, refusalError(check, answer), opts);
    held.push(answer);
  }
  return new HeldAdmission(held, opts.onEndError);
}

function withHeld(held: Reservation[], result: Reservation | undefined): Reservation[] {
  if (result !== undefined) held.push(result);
  return held;
}

function refusalError(check: AdmissionCheck, refusal: Refusal): GatewayError {
  return new GatewayError(refusal.kind ?? check.kind, refusal.code ?? check.code, refusal.message, {
    param: refusal.param,
    headers: refusal.headers,
    status: refusal.status,
  });
}

/** Gives back what the earlier checks reserved, then rejects with `error`. */
async function failed(held: readonly Reservation[], error: unknown, opts: AdmitOptions): Promise<never> {
  await endAll(held, (r) => r.release(), opts.onEndError);
  throw error;
}

function isRefusal(r: Reservation | Refusal | undefined): r is Refusal {
  return r !== undefined && (r as Partial<Refusal>).refused === true;
}

/**
 * Ends every reservation, each independently: one failing must not keep the others holding.
 * Nothing to wait for when each ended within the call.
 */
function endAll(
  held: readonly Reservation[],
  end: (r: Reservation) => void | Promise<void>,
  onError: ((error: unknown) => void) | undefined,
): void | Promise<void> {
  let pending: Array<Promise<void>> | undefined;
  for (const r of held) {
    try {
      const ending = end(r);
      if (ending) (pending ??= []).push(ending);
    } catch (error) {
      onError?.(error);
    }
  }
  if (!pending) return;
  return Promise.allSettled(pending).then((results) => {
    for (const r of results) if (r.status === "rejected") onError?.(r.reason);
  });
}

class HeldAdmission implements Admission {
  readonly #held: readonly Reservation[];
  readonly #onError: ((error: unknown) => void) | undefined;
  #ended = false;
  #ending: Promise<void> | undefined;

  constructor(held: readonly Reservation[], onError: ((error: unknown) => void) | undefined) {
    this.#held = held;
    this.#onError = onError;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get charge(): Charge | undefined {
    for (const r of this.#held) if (r.charge) return r.charge;
    return undefined;
  }

  settle(outcome: AdmissionOutcome): void | Promise<void> {
    return this.#end((r) => r.settle(outcome));
  }

  release(): void | Promise<void> {
    return this.#end((r) => r.release());
  }

  /** The first call wins; later ones (and concurrent ones) wait for it and change nothing. */
  #end(end: (r: Reservation) => void | Promise<void>): void | Promise<void> {
    if (this.#ended) return this.#ending;
    this.#ended = true;
    const ending = endAll(this.#held, end, this.#onError);
    if (ending) this.#ending = ending;
    return ending;
  }
}

/* Today's checks, with today's codes and messages. */

/** Every account on the chain must be active; the nearest disabled one is named. */
export const accountActiveCheck: AdmissionCheck = {
  code: "account_disabled",
  kind: "permission",
  run(subject) {
    for (const a of subject.chain) if (a.status !== "active") return refuse(`Account '${a.name}' is disabled.`);
    return undefined;
  },
};

/** The model must be allowed by every account on the chain, and denied by none. */
export const modelAllowedCheck: AdmissionCheck = {
  code: "model_not_allowed",
  kind: "permission",
  run(subject, request) {
    if (subject.modelAllowed(request.model)) return undefined;
    const deny = subject.policy && deniedBy(subject.policy, request.model);
    const by = deny && subject.chain.find((a) => a.id === deny.accountId);
    return refuse(by ? `Model '${request.model}' is denied by account '${by.name}'.` : `This key may not use model '${request.model}'.`, { param: "model" });
  },
};

/**
 * The client's address must lie in the `ip_allow` ranges of every account on the chain
 * that states them. An unknown address (a trusted proxy that sent no usable
 * X-Forwarded-For) passes no list: an allow-list fails closed.
 */
export const clientAddressCheck: AdmissionCheck = {
  code: "ip_not_allowed",
  kind: "permission",
  run(subject, request) {
    if (!subject.policy || allowsAddress(subject.policy, request.clientAddress)) return undefined;
    const list = subject.policy.ipAllow.find((l) => request.clientAddress === undefined || !l.matcher.matches(request.clientAddress));
    const by = subject.chain.find((a) => a.id === list?.accountId);
    const who = request.clientAddress === undefined ? "An unknown client address" : `Client address ${request.clientAddress}`;
    return refuse(`${who} is not allowed to use this key${by ? ` (account '${by.name}' allows only ${list!.cidrs.join(", ")})` : ""}.`);
  },
};

/**
 * A browser's request (one with an Origin header) must come from an origin every
 * account on the chain that lists `origins` allows. A request without Origin is not a
 * browser's (a server, a CLI) and passes: the header is the browser's to set, so its
 * absence says nothing a server could not say too.
 */
export const originCheck: AdmissionCheck = {
  code: "origin_not_allowed",
  kind: "permission",
  run(subject, request) {
    if (!subject.policy || allowsOrigin(subject.policy, request.origin)) return undefined;
    return refuse(`Origin '${request.origin ?? ""}' is not allowed to use this key.`, { param: "origin" });
  },
};

/**
 * The checks every request passes today, in today's order: a disabled account first, then
 * where the request comes from (address, browser origin), then the model.
 */
export const baseChecks: readonly AdmissionCheck[] = [accountActiveCheck, clientAddressCheck, originCheck, modelAllowedCheck];
