import { describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage } from "../canonical/usage.js";
import {
  accountActiveCheck,
  admit,
  admitAtOnce,
  clientAddressCheck,
  originCheck,
  baseChecks,
  modelAllowedCheck,
  refuse,
  type AdmissionCheck,
  type AdmissionOutcome,
  type AdmissionSubject,
  type Reservation,
} from "./admission.js";
// Made-up codes: these tests are about how admission carries a check's code, whatever it is.
import type { ErrorCode } from "../canonical/error-codes.js";
import { allowsModel, foldPolicies, type Policy } from "./policy.js";
import { MemoryCounters } from "./counters-memory.js";
import type { Meter } from "./counters.js";
import { limitsCheck } from "./limits.js";

type ChainAccount = { id: string; name: string; status: string };

function subject(chain: ChainAccount[], allowed: (model: string) => boolean = () => true): AdmissionSubject {
  return { accountId: chain[0]!.id, apiKeyId: "key-1", chain, modelAllowed: allowed };
}

const active = (id: string): ChainAccount => ({ id, name: `${id}-name`, status: "active" });
const request = { model: "gpt-test", stream: false };
const ok: AdmissionOutcome = { status: 200, usage: emptyUsage(), aborted: false };

/** A check that reserves and records every settle and release its reservation sees. */
function recordingCheck(name: string, log: string[]): AdmissionCheck {
  return {
    code: `${name}_code` as ErrorCode,
    kind: "rate_limit",
    run() {
      log.push(`${name}:reserve`);
      return {
        settle: async (o) => void log.push(`${name}:settle:${o.status}`),
        release: async () => void log.push(`${name}:release`),
      };
    },
  };
}

function refusingCheck(code: string, log: string[]): AdmissionCheck {
  return {
    code: code as ErrorCode,
    kind: "billing",
    run() {
      log.push(`${code}:refuse`);
      return refuse("No credit left.", { headers: { "retry-after": "60" } });
    },
  };
}

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

describe("admit", () => {
  it("admits when every check passes, holding what the checks reserved until settled", async () => {
    const log: string[] = [];
    const admission = await admit([recordingCheck("a", log), modelAllowedCheck, recordingCheck("b", log)], subject([active("acct")]), request);
    expect(log).toEqual(["a:reserve", "b:reserve"]);
    expect(admission.ended).toBe(false);
    await admission.settle(ok);
    expect(admission.ended).toBe(true);
    expect(log).toEqual(["a:reserve", "b:reserve", "a:settle:200", "b:settle:200"]);
  });

  it("on a refusal, releases what earlier checks reserved, skips later checks and throws with the refusing check's code", async () => {
    const log: string[] = [];
    const checks = [recordingCheck("a", log), recordingCheck("b", log), refusingCheck("credit_exhausted", log), recordingCheck("c", log)];
    const error = await refusal(admit(checks, subject([active("acct")]), request));
    expect(error).toMatchObject({ kind: "billing", code: "credit_exhausted", status: 402, message: "No credit left.", headers: { "retry-after": "60" } });
    expect(log).toEqual(["a:reserve", "b:reserve", "credit_exhausted:refuse", "a:release", "b:release"]);
  });

  it("on a check that throws, releases what earlier checks reserved and rethrows that error", async () => {
    const log: string[] = [];
    const boom = new Error("counter engine unreachable");
    const failing: AdmissionCheck = {
      code: "x" as ErrorCode,
      kind: "internal",
      run: async () => {
        throw boom;
      },
    };
    await expect(admit([recordingCheck("a", log), failing, recordingCheck("c", log)], subject([active("acct")]), request)).rejects.toBe(boom);
    expect(log).toEqual(["a:reserve", "a:release"]);
  });

  it("still throws the refusal, and releases the rest, when giving one reservation back fails", async () => {
    const log: string[] = [];
    const errors: unknown[] = [];
    const broken: AdmissionCheck = {
      code: "broken" as ErrorCode,
      kind: "rate_limit",
      run: () => ({ settle: async () => undefined, release: async () => Promise.reject(new Error("release failed")) }),
    };
    const error = await refusal(
      admit([broken, recordingCheck("a", log), refusingCheck("no", log)], subject([active("acct")]), request, { onEndError: (e) => errors.push(e) }),
    );
    expect(error.code).toBe("no");
    expect(log).toContain("a:release");
    expect(errors).toEqual([new Error("release failed")]);
  });
});

describe("an admission ends once", () => {
  function counted(): Reservation & { settles: AdmissionOutcome[]; releases: number } {
    const r = {
      settles: [] as AdmissionOutcome[],
      releases: 0,
      settle: async (o: AdmissionOutcome) => void r.settles.push(o),
      release: async () => void r.releases++,
    };
    return r;
  }
  const holding = (r: Reservation): AdmissionCheck => ({ code: "c" as ErrorCode, kind: "rate_limit", run: () => r });

  it("settles every reservation once: a second settle, or a release after it, does nothing", async () => {
    const [r1, r2] = [counted(), counted()];
    const admission = await admit([holding(r1), holding(r2)], subject([active("acct")]), request);
    const aborted: AdmissionOutcome = { status: 499, usage: { ...emptyUsage(), outputTokens: 7 }, aborted: true };
    await admission.settle(aborted);
    await admission.settle(ok);
    await admission.release();
    for (const r of [r1, r2]) {
      expect(r.settles).toEqual([aborted]);
      expect(r.releases).toBe(0);
    }
  });

  it("lets the first of concurrent settles and releases win", async () => {
    const r = counted();
    const admission = await admit([holding(r)], subject([active("acct")]), request);
    await Promise.all([admission.release(), admission.settle(ok), admission.release(), admission.settle(ok)]);
    expect(r.releases).toBe(1);
    expect(r.settles).toEqual([]);
  });

  it("settles the other reservations when one fails, reporting the failure instead of throwing it", async () => {
    const r = counted();
    const errors: unknown[] = [];
    const failing: Reservation = { settle: () => Promise.reject(new Error("settle failed")), release: async () => undefined };
    const admission = await admit([holding(failing), holding(r)], subject([active("acct")]), request, { onEndError: (e) => errors.push(e) });
    await expect(admission.settle(ok)).resolves.toBeUndefined();
    expect(r.settles).toEqual([ok]);
    expect(errors).toEqual([new Error("settle failed")]);
  });
});

describe("admission within the call", () => {
  /** A key's chain whose account allows 2 requests in flight, for the limits check. */
  function limited(): AdmissionSubject {
    const chain = [active("acct")];
    return { ...subject(chain), policy: foldPolicies([{ accountId: "acct", policy: { limits: { concurrency: 2 } } }]) };
  }
  /** The same engine seen only through its promise-returning operations, as a shared engine is. */
  function asyncOnly(m: MemoryCounters): Meter {
    return {
      reserve: (r) => m.reserve(r),
      release: (h, k) => m.release(h, k),
      held: (k) => m.held(k),
      incrementWindow: (k, n, w) => m.incrementWindow(k, n, w),
      take: (r) => m.take(r),
      finish: (r) => m.finish(r),
      rebase: (r) => m.rebase(r),
      counted: (k, w) => m.counted(k, w),
    };
  }

  it("admits and settles without a promise on the in-process meter, and with one on a meter that offers only promises", async () => {
    const meter = new MemoryCounters();
    const now = admitAtOnce([...baseChecks, limitsCheck(meter)], limited(), request);
    expect(now).not.toBeInstanceOf(Promise);
    expect(await meter.held("{acct}:concurrency:acct")).toBe(1);
    expect((now as Awaited<typeof now>).settle(ok)).toBeUndefined();
    expect(await meter.held("{acct}:concurrency:acct")).toBe(0);

    const shared = asyncOnly(new MemoryCounters());
    const later = admitAtOnce([...baseChecks, limitsCheck(shared)], limited(), request);
    expect(later).toBeInstanceOf(Promise);
    const admission = await later;
    expect(await shared.held("{acct}:concurrency:acct")).toBe(1);
    await expect(admission.settle(ok)).resolves.toBeUndefined();
    expect(await shared.held("{acct}:concurrency:acct")).toBe(0);
  });

  it("turns a refusal or a throw on the within-the-call path into a rejected promise, after giving back what was taken", async () => {
    const meter = new MemoryCounters();
    const s = limited();
    const checks = [...baseChecks, limitsCheck(meter)];
    const held = [admitAtOnce(checks, s, request), admitAtOnce(checks, s, request)];
    const third = admitAtOnce(checks, s, request);
    expect(third).toBeInstanceOf(Promise);
    expect((await refusal(third as Promise<unknown>)).code).toBe("concurrency_limit_exceeded");

    const boom = new Error("boom");
    const throwing: AdmissionCheck = {
      code: "x" as ErrorCode,
      kind: "rate_limit",
      run: () => {
        throw boom;
      },
    };
    for (const a of held) await (await a).release();
    const failed = admitAtOnce([limitsCheck(meter), throwing], s, request);
    expect(failed).toBeInstanceOf(Promise);
    await expect(failed).rejects.toBe(boom);
    expect(await meter.held("{acct}:concurrency:acct")).toBe(0);
  });

  it("ends each reservation once when they end within the call, and waits for the ones that do not", async () => {
    const log: string[] = [];
    const atOnce: Reservation = { settle: () => void log.push("now:settle"), release: () => void log.push("now:release") };
    const admission = await admit([{ code: "a" as ErrorCode, kind: "rate_limit", run: () => atOnce }], subject([active("acct")]), request);
    expect(admission.settle(ok)).toBeUndefined();
    expect(admission.ended).toBe(true);
    expect(admission.release()).toBeUndefined();
    expect(log).toEqual(["now:settle"]);

    const slow = admitAtOnce([{ code: "a" as ErrorCode, kind: "rate_limit", run: () => atOnce }, recordingCheck("b", log)], subject([active("acct")]), request);
    const ending = (slow as Awaited<typeof slow>).release();
    expect(ending).toBeInstanceOf(Promise);
    await ending;
    expect(log).toEqual(["now:settle", "b:reserve", "now:release", "b:release"]);
  });
});

describe("today's checks", () => {
  it("refuses a disabled account on the chain with account_disabled, naming the nearest one", async () => {
    const chain = [active("team"), { id: "dept", name: "Research", status: "disabled" }, { id: "org", name: "Acme", status: "disabled" }];
    const error = await refusal(admit(baseChecks, subject(chain), request));
    expect(error).toMatchObject({ kind: "permission", code: "account_disabled", status: 403, message: "Account 'Research' is disabled.", param: undefined });
  });

  it("refuses a model the chain does not allow with model_not_allowed on param 'model'", async () => {
    const seen: string[] = [];
    const s = subject([active("team")], (m) => (seen.push(m), m !== "gpt-test"));
    const error = await refusal(admit(baseChecks, s, request));
    expect(error).toMatchObject({
      kind: "permission",
      code: "model_not_allowed",
      status: 403,
      message: "This key may not use model 'gpt-test'.",
      param: "model",
    });
    expect(seen).toEqual(["gpt-test"]);
  });

  it("reports a disabled account before a disallowed model, as before", async () => {
    const error = await refusal(
      admit(
        baseChecks,
        subject([{ id: "a", name: "A", status: "disabled" }], () => false),
        request,
      ),
    );
    expect(error.code).toBe("account_disabled");
    expect(baseChecks).toEqual([accountActiveCheck, clientAddressCheck, originCheck, modelAllowedCheck]);
  });

  it("admits an active chain and an allowed model, holding nothing", async () => {
    const admission = await admit(baseChecks, subject([active("team"), active("org")]), request);
    await admission.settle(ok);
    expect(admission.ended).toBe(true);
  });
});

describe("where a request comes from, and denied models", () => {
  /** A subject whose chain (nearest first) holds these policies, with the fold's model rule. */
  function withPolicies(...policies: Policy[]): AdmissionSubject {
    const chain = policies.map((_, i) => active(`acct${i}`));
    const policy = foldPolicies(policies.map((p, i) => ({ accountId: `acct${i}`, policy: p })));
    return { ...subject(chain, (m) => allowsModel(policy, m)), policy };
  }

  it("admits an address inside every list on the chain, refuses one outside any, and refuses an unknown address when a list exists", async () => {
    const s = withPolicies({ ip_allow: ["10.1.0.0/16"] }, { ip_allow: ["10.0.0.0/8", "2001:db8::/32"] });
    await (await admit(baseChecks, s, { ...request, clientAddress: "10.1.2.3" })).release();
    const outside = await refusal(admit(baseChecks, s, { ...request, clientAddress: "10.2.0.1" }));
    expect(outside).toMatchObject({ code: "ip_not_allowed", status: 403, kind: "permission" });
    expect(outside.message).toBe("Client address 10.2.0.1 is not allowed to use this key (account 'acct0-name' allows only 10.1.0.0/16).");
    expect((await refusal(admit(baseChecks, s, request))).message).toMatch(/^An unknown client address/);
    // No list anywhere: any address, known or not.
    await (await admit(baseChecks, withPolicies({}), request)).release();
  });

  it("admits a request without Origin, and one whose Origin every list names; refuses any other", async () => {
    const s = withPolicies({ origins: ["https://app.example.com"] });
    await (await admit(baseChecks, s, request)).release();
    await (await admit(baseChecks, s, { ...request, origin: "https://app.example.com" })).release();
    // The header's spelling is normalised the way browsers compare origins.
    await (await admit(baseChecks, s, { ...request, origin: "HTTPS://App.Example.com:443" })).release();
    expect(await refusal(admit(baseChecks, s, { ...request, origin: "https://app.example.com:8443" }))).toMatchObject({ code: "origin_not_allowed" });
    // An empty list admits no browser at all.
    expect(await refusal(admit(baseChecks, withPolicies({ origins: [] }), { ...request, origin: "https://app.example.com" }))).toMatchObject({
      code: "origin_not_allowed",
    });
  });

  it("refuses a model a deny-list on the chain names, whatever the allow-lists say, and names the account", async () => {
    const s = withPolicies({ models: ["gpt-*"] }, { deny_models: ["gpt-test"] });
    const denied = await refusal(admit(baseChecks, s, request));
    expect(denied).toMatchObject({ code: "model_not_allowed", param: "model" });
    expect(denied.message).toBe("Model 'gpt-test' is denied by account 'acct1-name'.");
    await (await admit(baseChecks, s, { ...request, model: "gpt-other" })).release();
    expect((await refusal(admit(baseChecks, s, { ...request, model: "claude" }))).message).toBe("This key may not use model 'claude'.");
  });

  it("reads nothing beyond the model rule for a subject without a policy", async () => {
    await (await admit([clientAddressCheck, originCheck], subject([active("a")]), { ...request, origin: "https://x.example" })).release();
  });
});
