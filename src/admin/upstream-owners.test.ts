/**
 * Tenant-owned upstreams in the admin service: who sees and manages which upstream.
 * Root manages everything; a manage key of account X manages upstreams owned by X's
 * subtree; everything else answers exactly like a missing id.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { SecretBox } from "../governance/secrets.js";
import type { Account, Upstream } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import { ROOT_CONTEXT, type AdminContext } from "./context.js";
import { mayAdminister } from "./authorize.js";
import { AdminService } from "./service.js";
import { upstreamView } from "./views.js";
import { failure } from "../testing/gateway-error.js";

const keyOf = (a: Account): AdminContext => ({ actor: { type: "api_key", keyId: `key-of-${a.name}`, accountId: a.id } });

describe.each(ENGINES)("tenant-owned upstreams on %s", (engine) => {
  let t: TestStore;
  let service: AdminService;
  let acme: Account, eu: Account, dev: Account, beta: Account;
  let shared: Upstream, euPool: Upstream;

  beforeEach(async () => {
    t = await openTestStore(engine);
    service = new AdminService({ store: t.store, secrets: new SecretBox(randomBytes(32)), onChange: async () => undefined });
    acme = await service.createAccount({ name: "acme" });
    eu = await service.createAccount({ name: "acme-eu", parent_id: acme.id });
    dev = await service.createAccount({ name: "acme-eu-dev", parent_id: eu.id });
    beta = await service.createAccount({ name: "beta" });
    shared = await service.createUpstream({ name: "openai", protocol: "openai-chat", base_url: "https://g.test/v1", models: ["gpt-*"] });
    euPool = await service.createUpstream({
      name: "openai",
      owner_account_id: eu.id,
      protocol: "openai-chat",
      base_url: "https://eu.test/v1",
      models: ["gpt-*"],
    });
  });
  afterEach(() => t?.dispose());

  it("answers mayAdminister from the tree: own account and below, never above, beside or gateway-wide", async () => {
    expect(await mayAdminister(t.store, keyOf(acme), dev.id)).toBe(true);
    expect(await mayAdminister(t.store, keyOf(eu), eu.id)).toBe(true);
    expect(await mayAdminister(t.store, keyOf(eu), acme.id)).toBe(false);
    expect(await mayAdminister(t.store, keyOf(dev), eu.id)).toBe(false);
    expect(await mayAdminister(t.store, keyOf(beta), eu.id)).toBe(false);
    expect(await mayAdminister(t.store, keyOf(acme), null)).toBe(false);
    expect(await mayAdminister(t.store, ROOT_CONTEXT, null)).toBe(true);
    expect(await mayAdminister(t.store, { actor: { type: "cli" } }, eu.id)).toBe(true);
  });

  it("lets the owner and its ancestors manage an owned upstream, every route", async () => {
    for (const ctx of [ROOT_CONTEXT, keyOf(acme), keyOf(eu)]) {
      expect((await service.getUpstream(euPool.id, ctx)).id).toBe(euPool.id);
      expect((await service.updateUpstream(euPool.id, { timeout_ms: 1000 }, ctx)).settings.timeout_ms).toBe(1000);
      const k = await service.addUpstreamKey(euPool.id, { key: `sk-${ctx.actor.type}-${Math.random()}` }, ctx);
      expect((await service.listUpstreamKeys(euPool.id, ctx)).map((x) => x.id)).toContain(k.id);
      await service.removeUpstreamKey(euPool.id, k.id, ctx);
    }
    await service.deleteUpstream(euPool.id, keyOf(acme));
    expect(await t.store.upstreams.get(euPool.id)).toBeUndefined();
  });

  it("answers 404 upstream_not_found, as for a missing id, to a descendant, a sibling tenant, and for gateway-wide upstreams", async () => {
    const cases: Array<[AdminContext, Upstream]> = [
      [keyOf(dev), euPool],
      [keyOf(beta), euPool],
      [keyOf(acme), shared],
    ];
    for (const [ctx, u] of cases) {
      const calls = [
        () => service.getUpstream(u.id, ctx),
        () => service.updateUpstream(u.id, { enabled: false }, ctx),
        () => service.deleteUpstream(u.id, ctx),
        () => service.listUpstreamKeys(u.id, ctx),
        () => service.addUpstreamKey(u.id, { key: "sk-intruder" }, ctx),
        () => service.removeUpstreamKey(u.id, "whatever", ctx),
      ];
      for (const call of calls) {
        const e = await failure(call());
        expect([e.status, e.code, e.message]).toEqual([404, "upstream_not_found", `No upstream with id '${u.id}'.`]);
      }
    }
    const missing = await failure(service.getUpstream("00000000-0000-4000-8000-000000000000", keyOf(acme)));
    expect([missing.status, missing.code]).toEqual([404, "upstream_not_found"]);
    // Nothing changed.
    expect(await t.store.upstreams.get(euPool.id)).toEqual(euPool);
    expect(await t.store.upstreamKeys.listAll()).toEqual([]);
  });

  it("lists only what the caller administers", async () => {
    const betaPool = await service.createUpstream({ name: "b", protocol: "anthropic", base_url: "https://b.test", models: ["claude-*"] }, keyOf(beta));
    const names = async (ctx: AdminContext) => (await service.listUpstreams(ctx)).map((u) => u.id).sort();
    expect(await names(ROOT_CONTEXT)).toEqual([shared.id, euPool.id, betaPool.id].sort());
    expect(await names(keyOf(acme))).toEqual([euPool.id]);
    expect(await names(keyOf(eu))).toEqual([euPool.id]);
    expect(await names(keyOf(dev))).toEqual([]);
    expect(await names(keyOf(beta))).toEqual([betaPool.id]);
  });

  it("creates for the key's own account by default, or for an account below it; refuses others as not found", async () => {
    const own = await service.createUpstream({ name: "mine", protocol: "anthropic", base_url: "https://a.test", models: ["claude-*"] }, keyOf(acme));
    expect(own.ownerAccountId).toBe(acme.id);
    const below = await service.createUpstream(
      { name: "dev-pool", owner_account_id: dev.id, protocol: "anthropic", base_url: "https://d.test", models: ["x"] },
      keyOf(eu),
    );
    expect(below.ownerAccountId).toBe(dev.id);
    // The same name is free for another owner: names are scoped per owner.
    await service.createUpstream({ name: "mine", protocol: "anthropic", base_url: "https://b.test", models: ["claude-*"] }, keyOf(beta));

    for (const [ctx, owner] of [
      [keyOf(eu), acme.id],
      [keyOf(beta), eu.id],
      [keyOf(acme), "00000000-0000-4000-8000-000000000000"],
      [ROOT_CONTEXT, "00000000-0000-4000-8000-000000000000"],
    ] as const) {
      const e = await failure(
        service.createUpstream({ name: "sneaky", owner_account_id: owner, protocol: "anthropic", base_url: "https://s.test", models: ["x"] }, ctx),
      );
      expect([e.status, e.code, e.param, e.message]).toEqual([404, "account_not_found", "owner_account_id", `No account with id '${owner}'.`]);
    }
    const gatewayWide = await failure(
      service.createUpstream({ name: "g", owner_account_id: null, protocol: "anthropic", base_url: "https://s.test", models: ["x"] }, keyOf(acme)),
    );
    expect([gatewayWide.status, gatewayWide.code, gatewayWide.param]).toEqual([400, "invalid_field", "owner_account_id"]);
    expect((await t.store.upstreams.list()).filter((u) => u.name === "sneaky" || u.name === "g")).toEqual([]);
  });

  it("under parallel creates of one name: exactly one per owner wins, the rest get 409 conflict", async () => {
    const owners = [acme, beta, dev];
    const attempts = owners.flatMap((o) =>
      Array.from({ length: 8 }, () =>
        service.createUpstream({ name: "race", owner_account_id: o.id, protocol: "openai-chat", base_url: "https://r.test/v1", models: ["m"] }).then(
          (u) => ({ ok: u.ownerAccountId }),
          (e: GatewayError) => ({ failed: [e.status, e.code] }),
        ),
      ),
    );
    const results = await Promise.all(attempts);
    expect(
      results
        .filter((r) => "ok" in r)
        .map((r) => (r as { ok: string }).ok)
        .sort(),
    ).toEqual(owners.map((o) => o.id).sort());
    expect(results.filter((r) => "failed" in r)).toEqual(Array.from({ length: owners.length * 7 }, () => ({ failed: [409, "conflict"] })));
    expect((await t.store.upstreams.list()).filter((u) => u.name === "race")).toHaveLength(owners.length);
  });

  it("shows the owner in the view and keeps it fixed", async () => {
    expect(upstreamView(euPool)).toMatchObject({ name: "openai", owner_account_id: eu.id });
    expect(upstreamView(shared)).toMatchObject({ name: "openai", owner_account_id: null });
    const e = await failure(service.updateUpstream(euPool.id, { owner_account_id: beta.id }));
    expect(e.code).toBe("invalid_field");
    expect(e.message).toContain("owner_account_id");
  });
});
