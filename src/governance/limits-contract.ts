/**
 * The limits check on any Meter engine with a hand-moved clock: what each limit counts,
 * where, for how long, and that every admission is given back exactly (settled to actual
 * usage, or released whole). Run by each engine's test file (limits.test.ts for the
 * in-memory one); like counters-contract.ts, `makeMeter` gets the clock the suite moves
 * and must read time only from it. Every test's accounts live under a fresh root id, so
 * engines that share a server need no cleanup and keep a test's keys in one slot. The
 * HTTP side (429 in the client's format, real parallel load) is pipeline/rate-limits.test.ts.
 */
import { randomUUID } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import { admit, refuse, type AdmissionCheck, type AdmissionRequest, type AdmissionSubject } from "./admission.js";
import { dayWindow } from "./calendar.js";
import type { Meter } from "./counters.js";
import { HOUR, limitKey, limitsCheck, MINUTE } from "./limits.js";
import type { LimitField } from "./policy.js";
import { foldPolicies, type Policy } from "./policy.js";
import type { KeyLimits } from "../storage/ports.js";

/** A hand-moved clock shared by the engine and the calendar. */
function clock(start: string) {
  let t = Date.parse(start);
  return {
    now: () => t,
    set: (iso: string) => void (t = Date.parse(iso)),
    advance: (ms: number) => void (t += ms),
  };
}

/** This test's namespace: account ids are `<ns>.<short id>`, so each test counts on keys of its own. */
let ns = "";
let makeMeter: (now: () => number) => Meter | Promise<Meter>;
const id = (short: string): string => `${ns}.${short}`;

async function setup(start = "2026-12-05T12:00:00Z") {
  const c = clock(start);
  const meter = await makeMeter(c.now);
  return { c, meter, check: limitsCheck(meter, { now: c.now }) };
}

/** The stored key of an account's limit (`root`: the chain's root, the account itself by default) or of the key `keyId`. */
function lk(account: string, field: LimitField, pattern?: string, root = account): string {
  return limitKey(id(root), field, { accountId: id(account) }, pattern);
}

function kk(root: string, field: LimitField, keyId = "key-1"): string {
  return limitKey(id(root), field, { keyId });
}

/** A subject on the chain `ids` (nearest first), each with its policy; the last is the root. */
function subject(chain: Array<[id: string, policy: Policy]>, keyLimits?: KeyLimits, keyId = "key-1"): AdmissionSubject {
  return {
    accountId: id(chain[0]![0]),
    apiKeyId: keyId,
    chain: chain.map(([short]) => ({ id: id(short), name: `${short}-name`, status: "active" })),
    modelAllowed: () => true,
    policy: foldPolicies(chain.map(([short, policy]) => ({ accountId: id(short), policy }))),
    keyLimits,
  };
}

const req = (model = "gpt-4o", input = 0, output = 0): AdmissionRequest => ({ model, stream: false, estimate: { inputTokens: input, outputTokens: output } });
const usage = (input: number, output: number): Usage => Object.assign(emptyUsage(), { inputTokens: input, outputTokens: output });
const done = (u: Usage = emptyUsage()) => ({ status: 200, usage: u, aborted: false });

async function refusedBy(p: Promise<unknown>): Promise<GatewayError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GatewayError);
  return e as GatewayError;
}

export function runLimitsContract(name: string, make: (now: () => number) => Meter | Promise<Meter>): void {
  describe(`${name} limits contract`, () => {
    beforeEach(() => {
      ns = randomUUID();
      makeMeter = make;
    });

    describe("request windows", () => {
      it("admits exactly the limit of parallel requests, and names the refusing limit and account", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { rpm: 5 } }]]);
        const results = await Promise.allSettled(Array.from({ length: 20 }, () => admit([check], s, req())));
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(5);
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as GatewayError);
        expect(refused).toHaveLength(15);
        for (const e of refused) {
          expect(e).toMatchObject({ code: "rate_limit_exceeded", kind: "rate_limit", status: 429 });
          expect(e.headers).toMatchObject({ "x-switchyard-limit": "rpm=5; account=a-name; scope=account" });
          expect(Number(e.headers!["retry-after"])).toBeGreaterThanOrEqual(55);
          expect(e.message).toContain("a-name");
          expect(e.message).toContain("5 requests per minute");
        }
        expect(await meter.counted(lk("a", "rpm"), MINUTE)).toBe(5);
      });

      it("slides: a request counts until its 5 s bucket has left the minute", async () => {
        const { c, check } = await setup("2026-12-05T12:00:00Z");
        const s = subject([["a", { limits: { rpm: 2 } }]]);
        await admit([check], s, req());
        c.advance(30_000);
        await admit([check], s, req());
        const e = await refusedBy(admit([check], s, req()));
        // The oldest request's bucket ([12:00:00, 12:00:05)) leaves the window at 12:01:00, 30 s from now.
        expect(e.headers!["retry-after"]).toBe("30");
        c.advance(29_999);
        await refusedBy(admit([check], s, req()));
        c.advance(1);
        await admit([check], s, req());
      });

      it("counts an hour in 5-minute buckets", async () => {
        const { c, check, meter } = await setup("2026-12-05T12:00:00Z");
        const s = subject([["a", { limits: { rph: 1 } }]]);
        await admit([check], s, req());
        c.advance(59 * 60_000);
        const e = await refusedBy(admit([check], s, req()));
        expect(e.headers!["retry-after"]).toBe("60");
        expect(e.headers!["x-switchyard-limit"]).toBe("rph=1; account=a-name; scope=account");
        c.advance(60_000);
        expect(await meter.counted(lk("a", "rph"), HOUR)).toBe(0);
        await admit([check], s, req());
      });
    });

    describe("the chain", () => {
      it("a parent's limit is shared by its children: each alone is under its own limit, together they reach the parent's", async () => {
        const { check } = await setup();
        const dept: [string, Policy] = ["dept", { limits: { rpm: 3 } }];
        const kid1 = subject([["kid1", { limits: { rpm: 2 } }], dept], undefined, "k1");
        const kid2 = subject([["kid2", { limits: { rpm: 2 } }], dept], undefined, "k2");
        await admit([check], kid1, req());
        await admit([check], kid1, req());
        expect((await refusedBy(admit([check], kid1, req()))).headers!["x-switchyard-limit"]).toBe("rpm=2; account=kid1-name; scope=account");
        await admit([check], kid2, req());
        const e = await refusedBy(admit([check], kid2, req()));
        expect(e.headers!["x-switchyard-limit"]).toBe("rpm=3; account=dept-name; scope=account");
        expect(e.message).toContain("Account 'dept-name'");
      });

      it("in parallel, two children together get exactly the parent's limit", async () => {
        const { check } = await setup();
        const dept: [string, Policy] = ["dept", { limits: { rpm: 3 } }];
        const kids = [subject([["kid1", { limits: { rpm: 2 } }], dept]), subject([["kid2", { limits: { rpm: 2 } }], dept])];
        const results = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => admit([check], kids[i % 2]!, req())));
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
      });
    });

    describe("the key's own limits", () => {
      it("count per key, within the account's", async () => {
        const { check } = await setup();
        const limited = subject([["a", { limits: { rpm: 10 } }]], { rpm: 2 }, "k-limited");
        const other = subject([["a", { limits: { rpm: 10 } }]], undefined, "k-other");
        await admit([check], limited, req());
        await admit([check], limited, req());
        const e = await refusedBy(admit([check], limited, req()));
        expect(e.headers!["x-switchyard-limit"]).toBe("rpm=2; account=a-name; scope=key; key=k-limited");
        expect(e.message).toContain("API key k-limited");
        await admit([check], other, req());
      });
    });

    describe("per-model limits", () => {
      it("count only requests whose served model matches the pattern, on a key per (account, pattern)", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { rpm: 100, per_model: { "gpt-4o-mini*": { rpm: 1 } } } }]]);
        await admit([check], s, req("gpt-4o-mini"));
        const e = await refusedBy(admit([check], s, req("gpt-4o-mini-2026")));
        expect(e.headers!["x-switchyard-limit"]).toBe("rpm=1; account=a-name; scope=model:gpt-4o-mini*");
        for (let i = 0; i < 3; i++) await admit([check], s, req("gpt-4o"));
        expect(await meter.counted(lk("a", "rpm", "gpt-4o-mini*"), MINUTE)).toBe(1);
        // The account's own rpm counted every admitted request, of either model.
        expect(await meter.counted(lk("a", "rpm"), MINUTE)).toBe(4);
      });

      it("each account on the chain counts its own per-model pattern", async () => {
        const { check } = await setup();
        const s = subject([
          ["kid", { limits: { per_model: { "claude-*": { rpm: 5 } } } }],
          ["root", { limits: { per_model: { "claude-*": { rpm: 1 } } } }],
        ]);
        await admit([check], s, req("claude-x"));
        expect((await refusedBy(admit([check], s, req("claude-y")))).headers!["x-switchyard-limit"]).toBe("rpm=1; account=root-name; scope=model:claude-*");
      });
    });

    describe("token windows", () => {
      it("admit on the estimate and settle on actual usage", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { tpm: 1000, tph: 5000, tpd: 10_000 } }]]);
        const key = (f: "tpm" | "tph" | "tpd") => lk("a", f);
        const a = await admit([check], s, req("gpt-4o", 100, 500));
        expect(await meter.counted(key("tpm"), MINUTE)).toBe(600);
        // 600 + 600 > 1000: the estimate alone refuses the next.
        const e = await refusedBy(admit([check], s, req("gpt-4o", 100, 500)));
        expect(e.code).toBe("rate_limit_exceeded");
        expect(e.message).toContain("estimated at 600 tokens");
        expect(e.headers!["x-switchyard-limit"]).toBe("tpm=1000; account=a-name; scope=account");
        await a.settle(done(usage(120, 30)));
        expect(await meter.counted(key("tpm"), MINUTE)).toBe(150);
        expect(await meter.counted(key("tph"), HOUR)).toBe(150);
        expect(await meter.counted(key("tpd"), dayWindow("UTC", Date.parse("2026-12-05T12:00:00Z")))).toBe(150);
        await admit([check], s, req("gpt-4o", 100, 500));
      });

      it("an estimate above the limit itself fits an empty window, counting as the whole limit, and settles on actual usage", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { tpm: 1000, tpd: 100_000 } }]]);
        const a = await admit([check], s, req("gpt-4o", 100, 4096));
        expect(await meter.counted(lk("a", "tpm"), MINUTE)).toBe(1000);
        expect(await meter.counted(lk("a", "tpd"), dayWindow("UTC", Date.parse("2026-12-05T12:00:00Z")))).toBe(4196);
        await refusedBy(admit([check], s, req("gpt-4o", 1, 1)));
        await a.settle(done(usage(150, 50)));
        expect(await meter.counted(lk("a", "tpm"), MINUTE)).toBe(200);
        expect(await meter.counted(lk("a", "tpd"), dayWindow("UTC", Date.parse("2026-12-05T12:00:00Z")))).toBe(200);
        await admit([check], s, req("gpt-4o", 1, 1));
      });

      it("settling more than the estimate counts the excess", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { tpm: 1000 } }]]);
        const a = await admit([check], s, req("gpt-4o", 10, 10));
        await a.settle(done(usage(700, 200)));
        expect(await meter.counted(lk("a", "tpm"), MINUTE)).toBe(900);
      });

      it("a request that never ran gives back every count and every slot", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { rpm: 5, rpd: 5, tpm: 1000, concurrency: 1, per_model: { "gpt-*": { rpm: 2 } } } }]], { rph: 3, concurrency: 1 });
        const a = await admit([check], s, req("gpt-4o", 100, 100));
        await a.release();
        for (const f of ["rpm", "rpd", "tpm"] as const) {
          const w = f === "rpd" ? dayWindow("UTC", Date.parse("2026-12-05T12:00:00Z")) : MINUTE;
          expect(await meter.counted(lk("a", f), w)).toBe(0);
        }
        expect(await meter.counted(lk("a", "rpm", "gpt-*"), MINUTE)).toBe(0);
        expect(await meter.counted(kk("a", "rph"), HOUR)).toBe(0);
        expect(await meter.held(lk("a", "concurrency"))).toBe(0);
        expect(await meter.held(kk("a", "concurrency"))).toBe(0);
        // Ending twice changes nothing.
        await a.release();
        await a.settle(done(usage(1, 1)));
        expect(await meter.counted(lk("a", "tpm"), MINUTE)).toBe(0);
      });

      it("a later check's refusal releases what the limits took", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { rpm: 1, concurrency: 1 } }]]);
        const broke: AdmissionCheck = { code: "internal_error", kind: "billing", run: () => refuse("No credit.") };
        for (let i = 0; i < 1000; i++) await refusedBy(admit([check, broke], s, req()));
        expect(await meter.counted(lk("a", "rpm"), MINUTE)).toBe(0);
        expect(await meter.held(lk("a", "concurrency"))).toBe(0);
        await admit([check], s, req());
      });
    });

    describe("concurrency", () => {
      it("holds a slot per request on the account's and the key's keys, refuses with concurrency_limit_exceeded, and frees on settle", async () => {
        const { check, meter } = await setup();
        const s = subject([["a", { limits: { concurrency: 3 } }]], { concurrency: 2 });
        const a = await admit([check], s, req());
        const b = await admit([check], s, req());
        const e = await refusedBy(admit([check], s, req()));
        expect(e).toMatchObject({ code: "concurrency_limit_exceeded", status: 429 });
        expect(e.headers).toEqual({ "retry-after": "1", "x-switchyard-limit": "concurrency=2; account=a-name; scope=key; key=key-1" });
        expect(await meter.held(lk("a", "concurrency"))).toBe(2);
        await a.settle(done());
        await b.settle({ status: 502, usage: emptyUsage(), aborted: true, errorCode: "upstream_error" });
        expect(await meter.held(lk("a", "concurrency"))).toBe(0);
        expect(await meter.held(kk("a", "concurrency"))).toBe(0);
      });
    });

    describe("natural days in the account's time zone", () => {
      it("RPD resets at local midnight, not at UTC midnight", async () => {
        // Tokyo is UTC+9: its midnight is 15:00 UTC, and UTC midnight is 09:00 there.
        const { c, check } = await setup("2026-12-05T23:59:30Z");
        const s = subject([["a", { limits: { rpd: 2 }, time_zone: "Asia/Tokyo" }]]);
        await admit([check], s, req());
        await admit([check], s, req());
        const e = await refusedBy(admit([check], s, req()));
        expect(e.headers!["x-switchyard-limit"]).toBe("rpd=2; account=a-name; scope=account");
        // Until 2026-12-06T15:00Z: 15 h 30 s.
        expect(e.headers!["retry-after"]).toBe(String(15 * 3600 + 30));
        c.set("2026-12-06T00:00:30Z");
        await refusedBy(admit([check], s, req()));
        c.set("2026-12-06T14:59:59Z");
        await refusedBy(admit([check], s, req()));
        c.set("2026-12-06T15:00:00Z");
        await admit([check], s, req());
      });
    });

    describe("a window that resets while requests are in flight (LiteLLM #34733)", () => {
      it("a day: a late settlement corrects the day it was counted in, and the new day keeps its own counts", async () => {
        const { c, check, meter } = await setup("2026-12-05T23:59:50Z");
        const s = subject([["a", { limits: { tpd: 10_000 } }]]);
        const key = lk("a", "tpd");
        const oldDay = dayWindow("UTC", c.now());
        const inFlight = await admit([check], s, req("gpt-4o", 100, 100));
        c.set("2026-12-06T00:00:10Z");
        const newDay = dayWindow("UTC", c.now());
        const fresh = await admit([check], s, req("gpt-4o", 300, 0));
        await inFlight.settle(done(usage(500, 500)));
        await fresh.settle(done(usage(250, 50)));
        expect(await meter.counted(key, newDay)).toBe(300);
        c.set("2026-12-05T23:59:59Z");
        expect(await meter.counted(key, oldDay)).toBe(1000);
      });

      it("a minute: requests admitted later keep their counts when an earlier one settles after its bucket moved on", async () => {
        const { c, check, meter } = await setup("2026-12-05T12:00:00Z");
        const s = subject([["a", { limits: { tpm: 10_000 } }]]);
        const key = lk("a", "tpm");
        const first = await admit([check], s, req("gpt-4o", 100, 0));
        c.advance(30_000);
        const second = await admit([check], s, req("gpt-4o", 100, 0));
        await first.settle(done(usage(400, 0)));
        expect(await meter.counted(key, MINUTE)).toBe(500);
        c.advance(31_000);
        // The first request's bucket has left the window; the second's count is whole.
        expect(await meter.counted(key, MINUTE)).toBe(100);
        await second.settle(done(usage(40, 0)));
        expect(await meter.counted(key, MINUTE)).toBe(40);
        c.advance(30_000);
        // A settlement after its bucket left the window changes nothing anyone reads.
        const late = await admit([check], s, req("gpt-4o", 50, 0));
        c.advance(61_000);
        await late.settle(done(usage(5000, 0)));
        expect(await meter.counted(key, MINUTE)).toBe(0);
      });
    });

    describe("no limits", () => {
      it("takes nothing and holds nothing", async () => {
        const { check } = await setup();
        expect(await check.run(subject([["a", {}]]), req())).toBeUndefined();
        expect(await check.run(subject([["a", { limits: { per_model: { "claude-*": { rpm: 1 } } } }]]), req("gpt-4o"))).toBeUndefined();
      });
    });
  });
}
