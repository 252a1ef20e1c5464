import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashKey } from "../governance/api-keys.js";
import { SecretBox } from "../governance/secrets.js";
import type { Store } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import { AdminService, type AuditEvent, type AuditSink } from "./service.js";
import { failure } from "../testing/gateway-error.js";

describe.each(ENGINES)("admin service on %s", (engine) => {
  let t: TestStore;
  let store: Store;
  let service: AdminService;
  let secrets: SecretBox;
  let changes: number;
  let audit: AuditEvent[];
  let failChange: Error | undefined;

  beforeEach(async () => {
    t = await openTestStore(engine);
    store = t.store;
    secrets = new SecretBox(randomBytes(32));
    changes = 0;
    audit = [];
    failChange = undefined;
    service = new AdminService({
      store,
      secrets,
      onChange: async () => {
        changes++;
        if (failChange) throw failChange;
      },
      audit: { record: async (_tx, event) => void audit.push(event) },
    });
  });
  afterEach(() => t?.dispose());

  /** Asserts a refused write left no trace: nothing notified, nothing audited. */
  function expectNoWrite(): void {
    expect(changes).toBe(0);
    expect(audit).toEqual([]);
  }

  describe("account policy", () => {
    it("creates a sub-account that narrows its parent, notifying once and auditing the change", async () => {
      const org = await service.createAccount({ name: "org", models: ["gpt-*"] });
      const team = await service.createAccount({ name: "team", parent_id: org.id, models: ["gpt-4o*"] });
      expect(team).toMatchObject({ parentId: org.id, settings: { models: ["gpt-4o*"] } });
      expect(changes).toBe(2);
      expect(audit.map((e) => [e.action, e.target.id, e.before, e.after?.models])).toEqual([
        ["account.create", org.id, null, ["gpt-*"]],
        ["account.create", team.id, null, ["gpt-4o*"]],
      ]);
    });

    it("takes model mappings in the short form, only toward models the account may use", async () => {
      const org = await service.createAccount({ name: "org", models: ["gpt-5.4*", "claude-*"], model_map: ["claude-*=gpt-5.4"] });
      expect(org.settings).toEqual({ models: ["gpt-5.4*", "claude-*"], model_map: ["claude-*=gpt-5.4"] });
      expect(audit[0]!.after).toMatchObject({ model_map: ["claude-*=gpt-5.4"] });
      changes = 0;
      audit = [];

      const outside = await failure(service.createAccount({ name: "team", parent_id: org.id, model_map: ["claude-*=o3"] }));
      expect(outside).toMatchObject({ code: "exceeds_parent", param: "model_map" });
      // Within the parent, but the child's own list leaves gpt-5.4 out.
      const own = await failure(service.createAccount({ name: "team", parent_id: org.id, models: ["claude-*"], model_map: ["claude-*=gpt-5.4"] }));
      expect(own).toMatchObject({ code: "exceeds_parent", param: "model_map" });
      const malformed = await failure(service.createAccount({ name: "team", parent_id: org.id, model_map: ["claude-*"] }));
      expect(malformed).toMatchObject({ code: "invalid_field", param: "model_map.0" });
      expectNoWrite();

      const team = await service.createAccount({ name: "team", parent_id: org.id, model_map: ["claude-opus-*=gpt-5.4-pro"] });
      const narrowed = await failure(service.updateAccount(org.id, { models: ["claude-*", "gpt-5.4"] }));
      expect(narrowed).toMatchObject({ code: "children_outside_policy" });
      expect((await service.updateAccount(team.id, { model_map: null })).settings).toEqual({});
    });

    it("refuses a sub-account wider than its parent's effective policy, naming what reaches beyond", async () => {
      const org = await store.accounts.create({ name: "org", settings: { models: ["gpt-*"] } });
      // Inherits org's list: a child of it is held to gpt-* as well.
      const team = await store.accounts.create({ name: "team", parentId: org.id });
      const e = await failure(service.createAccount({ name: "bot", parent_id: team.id, models: ["gpt-4o", "claude-*"] }));
      expect(e).toMatchObject({ code: "exceeds_parent", status: 400, param: "models" });
      // The bound was set by org, two levels up from bot; the message names it, not the parent that inherits it.
      expect(e.message).toBe(
        `The policy reaches beyond what an ancestor allows: models: model 'claude-*' is not within [gpt-*], set by account 'org' (${org.id}).`,
      );
      expect(await store.accounts.getByName("bot")).toBeUndefined();
      expectNoWrite();
    });

    it("refuses an unknown parent", async () => {
      const e = await failure(service.createAccount({ name: "orphan", parent_id: "00000000-0000-4000-8000-000000000000" }));
      expect(e).toMatchObject({ code: "account_not_found", status: 404, param: "parent_id" });
      expectNoWrite();
    });

    it("refuses to widen a sub-account beyond its parent on update, and lets it inherit with null", async () => {
      const org = await service.createAccount({ name: "org", models: ["gpt-*"] });
      const team = await service.createAccount({ name: "team", parent_id: org.id, models: ["gpt-4o"] });
      changes = 0;
      audit = [];
      const e = await failure(service.updateAccount(team.id, { models: ["gpt-4o", "o3"] }));
      expect(e).toMatchObject({ code: "exceeds_parent", param: "models" });
      expect((await store.accounts.get(team.id))?.settings).toEqual({ models: ["gpt-4o"] });
      expectNoWrite();

      const inherited = await service.updateAccount(team.id, { models: null });
      expect(inherited.settings).toEqual({});
      expect(audit).toEqual([expect.objectContaining({ action: "account.update", before: expect.objectContaining({ models: ["gpt-4o"] }) })]);
      expect(audit[0]!.after).toMatchObject({ models: null });
      expect(changes).toBe(1);
    });

    it("refuses to narrow an account below its sub-accounts, listing every one the change would strand", async () => {
      const org = await service.createAccount({ name: "org", models: ["gpt-*", "claude-*"] });
      const team = await service.createAccount({ name: "team", parent_id: org.id });
      await service.createAccount({ name: "claude-team", parent_id: org.id, models: ["claude-*"] });
      await service.createAccount({ name: "deep", parent_id: team.id, models: ["gpt-4o", "claude-3"] });
      changes = 0;
      audit = [];

      const e = await failure(service.updateAccount(org.id, { models: ["gpt-*"] }));
      expect(e).toMatchObject({ code: "children_outside_policy", status: 409, param: "models" });
      expect(e.message).toBe(
        "Sub-accounts would allow what 'org' no longer allows; narrow them first: 'claude-team' (models: claude-*); 'deep' (models: claude-3).",
      );
      expect((await store.accounts.get(org.id))?.settings).toEqual({ models: ["gpt-*", "claude-*"] });
      expectNoWrite();

      // Narrowing that every sub-account still fits is fine.
      await service.updateAccount(org.id, { models: ["gpt-4o*", "claude-*"] });
      expect(changes).toBe(1);
    });

    it("does not hold a sub-account that was already beyond its parent against an unrelated change", async () => {
      const org = await store.accounts.create({ name: "org", settings: { models: ["gpt-*", "claude-*"] } });
      // Stored without the check (the YAML bootstrap does this): already beyond org.
      await store.accounts.create({ name: "legacy", parentId: org.id, settings: { models: ["o3"] } });
      await store.accounts.create({ name: "claude-team", parentId: org.id, settings: { models: ["claude-3"] } });
      const e = await failure(service.updateAccount(org.id, { models: ["gpt-*"] }));
      expect(e.message).toContain("'claude-team' (models: claude-3)");
      expect(e.message).not.toContain("legacy");
      await service.updateAccount(org.id, { models: ["gpt-*", "claude-3*"] });
      expect((await store.accounts.get(org.id))?.settings).toEqual({ models: ["gpt-*", "claude-3*"] });
    });

    it("keeps settings it does not own when the policy changes", async () => {
      const a = await store.accounts.create({ name: "a", settings: { models: ["x"], note: "kept" } });
      expect((await service.updateAccount(a.id, { models: ["y"] })).settings).toEqual({ models: ["y"], note: "kept" });
      expect((await service.updateAccount(a.id, { name: "renamed" })).settings).toEqual({ models: ["y"], note: "kept" });
    });
  });

  describe("writes", () => {
    it("audits inside the change's transaction: the sink sees the change through tx, and a failing sink undoes it", async () => {
      const seen: unknown[] = [];
      const auditing: AuditSink = {
        async record(tx, event) {
          seen.push((await tx.accounts.get(event.target.id))?.name);
          if (event.action === "account.delete") throw new Error("audit log unavailable");
        },
      };
      const s = new AdminService({ store, secrets, onChange: async () => void changes++, audit: auditing });
      const a = await s.createAccount({ name: "audited" });
      expect(seen).toEqual(["audited"]);
      await expect(s.deleteAccount(a.id)).rejects.toThrow("audit log unavailable");
      expect(await store.accounts.get(a.id)).toBeDefined();
      expect(changes).toBe(1);
    });

    it("maps store rule violations to stable codes without notifying", async () => {
      const parent = await service.createAccount({ name: "taken" });
      await service.createAccount({ name: "child", parent_id: parent.id });
      changes = 0;
      audit = [];
      expect(await failure(service.createAccount({ name: "taken" }))).toMatchObject({ code: "conflict", status: 409 });
      expect(await failure(service.deleteAccount(parent.id))).toMatchObject({ code: "has_children", status: 409 });
      expect(await failure(service.deleteAccount("missing"))).toMatchObject({ code: "account_not_found", status: 404 });
      expectNoWrite();
    });

    it("validates bodies with the OpenAPI schemas, naming the field", async () => {
      expect(await failure(service.createAccount({ name: "" }))).toMatchObject({ code: "invalid_field", param: "name" });
      expect(await failure(service.createAccount({ name: "x", models: ["ok", ""] }))).toMatchObject({ code: "invalid_field", param: "models.1" });
      expect(await failure(service.createAccount({ name: "x", surprise: 1 }))).toMatchObject({ code: "invalid_field" });
      expect(await failure(service.createUpstream({ name: "u", protocol: "grpc", base_url: "https://x.test", models: ["m"] }))).toMatchObject({
        param: "protocol",
      });
      expectNoWrite();
    });

    it("moves an account with its subtree under another parent, or to the top", async () => {
      const a = await service.createAccount({ name: "a", models: ["gpt-*"] });
      const b = await service.createAccount({ name: "b", models: ["gpt-*", "claude-*"] });
      const team = await service.createAccount({ name: "team", parent_id: b.id });
      const person = await service.createAccount({ name: "person", parent_id: team.id, models: ["gpt-4o"] });
      audit = [];
      const moved = await service.updateAccount(team.id, { parent_id: a.id });
      expect(moved.parentId).toBe(a.id);
      expect((await store.accounts.descendants(a.id)).map((x) => x.name).sort()).toEqual(["person", "team"]);
      expect((await store.accounts.ancestors(person.id)).map((x) => x.name)).toEqual(["team", "a"]);
      expect(audit).toEqual([expect.objectContaining({ action: "account.update", before: expect.objectContaining({ parent_id: b.id }) })]);
      expect((await service.updateAccount(team.id, { parent_id: null })).parentId).toBeNull();
      expect(await store.accounts.ancestors(person.id)).toHaveLength(1);
    });

    it("refuses a move into the account's own subtree, under an unknown parent, or that would widen what the subtree may use", async () => {
      const top = await service.createAccount({ name: "top" });
      const mid = await service.createAccount({ name: "mid", parent_id: top.id, models: ["gpt-*", "claude-*"] });
      const leaf = await service.createAccount({ name: "leaf", parent_id: mid.id, models: ["claude-*"] });
      const narrowParent = await service.createAccount({ name: "narrow", models: ["gpt-*"] });
      changes = 0;
      audit = [];
      expect(await failure(service.updateAccount(top.id, { parent_id: leaf.id }))).toMatchObject({ code: "cycle", status: 400, param: "parent_id" });
      expect(await failure(service.updateAccount(top.id, { parent_id: top.id }))).toMatchObject({ code: "cycle" });
      expect(await failure(service.updateAccount(mid.id, { parent_id: "missing" }))).toMatchObject({ code: "account_not_found", param: "parent_id" });
      // mid's own list reaches beyond the new parent's.
      expect(await failure(service.updateAccount(mid.id, { parent_id: narrowParent.id }))).toMatchObject({ code: "exceeds_parent" });
      // Narrowed to fit, mid would still leave leaf's claude-* beyond it.
      expect(await failure(service.updateAccount(mid.id, { parent_id: narrowParent.id, models: ["gpt-*"] }))).toMatchObject({
        code: "children_outside_policy",
      });
      expectNoWrite();
      expect((await store.accounts.get(mid.id))!.parentId).toBe(top.id);
    });

    it("reports a change it could not apply, and keeps it", async () => {
      failChange = new Error("reload failed");
      const e = await failure(service.createAccount({ name: "stored anyway" }));
      expect(e).toMatchObject({ code: "change_not_applied", status: 500 });
      expect(await store.accounts.getByName("stored anyway")).toBeDefined();
      expect(changes).toBe(1);
    });
  });

  describe("keys", () => {
    it("issues an API key whose secret only the caller sees, and revokes it", async () => {
      const a = await service.createAccount({ name: "a" });
      const { key, secret } = await service.createApiKey(a.id, {});
      expect(key).toMatchObject({ accountId: a.id, name: "default", status: "active", hash: hashKey(secret) });
      expect(JSON.stringify(audit)).not.toContain(secret);
      expect(JSON.stringify(audit)).not.toContain(key.hash);
      await service.revokeApiKey(key.id);
      expect((await store.apiKeys.get(key.id))?.status).toBe("revoked");
      expect(audit.at(-1)).toMatchObject({ action: "api_key.revoke", before: { status: "active" }, after: { status: "revoked" } });
      expect(await failure(service.revokeApiKey("missing"))).toMatchObject({ code: "api_key_not_found" });
      expect(await failure(service.createApiKey("missing", {}))).toMatchObject({ code: "account_not_found" });
      expect(changes).toBe(3);
    });

    it("stores upstream credentials sealed, shows only fingerprints, and removes them only under their upstream", async () => {
      const u = await service.createUpstream({ name: "up", protocol: "openai-chat", base_url: "https://x.test/v1", models: ["m"] });
      const other = await service.createUpstream({ name: "other", protocol: "anthropic", base_url: "https://a.test", models: ["c"] });
      const k = await service.addUpstreamKey(u.id, { key: "sk-very-secret" });
      const stored = await store.upstreamKeys.get(k.id);
      expect(stored!.ciphertext).not.toContain("very-secret");
      expect(secrets.open(stored!.ciphertext)).toBe("sk-very-secret");
      expect(JSON.stringify(audit)).not.toContain("very-secret");
      expect(audit.at(-1)).toMatchObject({ action: "upstream_key.create", after: { fingerprint: k.fingerprint } });
      expect(await failure(service.removeUpstreamKey(other.id, k.id))).toMatchObject({ code: "upstream_key_not_found" });
      await service.removeUpstreamKey(u.id, k.id);
      expect(await store.upstreamKeys.get(k.id)).toBeUndefined();
    });

    it("refuses a key for an upstream the configuration file declares, whose keys the file sets at every start", async () => {
      const fromFile = await store.upstreams.create({
        name: "from-file",
        protocol: "anthropic",
        baseUrl: "https://a.test",
        models: ["c"],
        settings: { managed_by: "config" },
      });
      expect(await failure(service.addUpstreamKey(fromFile.id, { key: "sk-lost-at-restart" }))).toMatchObject({
        code: "upstream_managed_by_config",
        status: 409,
      });
      expect(await store.upstreamKeys.listByUpstream(fromFile.id)).toEqual([]);
      expectNoWrite();
    });

    it("creates an upstream from a provider preset and a name, the body overriding what the preset fills", async () => {
      const ds = await service.createUpstream({ name: "deepseek", preset: "deepseek" });
      expect(ds).toMatchObject({ protocol: "openai-chat", baseUrl: "https://api.deepseek.com", models: ["deepseek-*"] });
      const oa = await service.createUpstream({ name: "oa", preset: "openai", models: ["gpt-5.4"] });
      expect(oa).toMatchObject({ protocol: "openai-responses", models: ["gpt-5.4"], settings: { prompt_cache_key: true } });
      changes = 0;
      audit = [];
      const e = await failure(service.createUpstream({ name: "x", preset: "nosuch" }));
      expect(e).toMatchObject({ code: "invalid_field", param: "preset" });
      expect(e.message).toContain("unknown preset 'nosuch'");
      expectNoWrite();
    });

    it("updates upstream settings field by field and deletes the upstream with its keys", async () => {
      const u = await service.createUpstream({ name: "up", protocol: "openai-chat", base_url: "https://x.test/v1", models: ["m"], timeout_ms: 1000 });
      await service.addUpstreamKey(u.id, { key: "sk-1" });
      const patched = await service.updateUpstream(u.id, { prompt_cache_key: true, timeout_ms: null });
      expect(patched.settings).toEqual({ prompt_cache_key: true });
      expect(audit.at(-1)).toMatchObject({ action: "upstream.update", before: { prompt_cache_key: false }, after: { prompt_cache_key: true } });
      await service.deleteUpstream(u.id);
      expect(await store.upstreamKeys.listAll()).toEqual([]);
      expect(await failure(service.getUpstream(u.id))).toMatchObject({ code: "upstream_not_found" });
      expect(changes).toBe(4);
    });
  });
});
