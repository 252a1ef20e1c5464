/**
 * The admin service's delegation rules on both engines, with an injected clock: rotation
 * grace and expiry on both planes, deletion and its hook, and authorization for callers
 * that reach the service without HTTP (the CLI, in-process code).
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { Principals } from "../governance/principals.js";
import { SecretBox } from "../governance/secrets.js";
import { authenticate } from "../pipeline/authenticate.js";
import type { Account, Store } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import type { AdminContext } from "./context.js";
import { AdminService } from "./service.js";
import { failure } from "../testing/gateway-error.js";

describe.each(ENGINES)("delegation in the admin service on %s", (engine) => {
  let t: TestStore;
  let store: Store;
  let now: number;
  let deleted: string[];
  let refuseDelete: string | undefined;
  let service: AdminService;
  let used: string[];

  beforeEach(async () => {
    t = await openTestStore(engine);
    store = t.store;
    now = Date.parse("2030-01-01T00:00:00.000Z");
    deleted = [];
    refuseDelete = undefined;
    used = [];
    service = new AdminService({
      onKeyUsed: (id) => used.push(id),
      store,
      secrets: new SecretBox(randomBytes(32)),
      onChange: async () => undefined,
      now: () => now,
      onAccountDeleted: async (tx, account: Account) => {
        // The hook runs inside the deletion's transaction: the account is still there.
        expect(await tx.accounts.get(account.id)).toBeDefined();
        if (account.name === refuseDelete) {
          throw new GatewayError("invalid_request", "conflict", `account '${account.name}' still holds a balance`, { status: 409 });
        }
        deleted.push(account.name);
      },
    });
  });
  afterEach(() => t?.dispose());

  const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

  it("keeps a rotated secret working until the grace ends, by the clock, on both planes", async () => {
    const a = await service.createAccount({ name: "a" });
    const { key, secret } = await service.createApiKey(a.id, { scopes: ["inference", "manage"] });
    const rotated = await service.rotateApiKey(key.id, { grace_seconds: 600 });
    expect(rotated.old).toMatchObject({ expiresAt: "2030-01-01T00:10:00.000Z", replacedBy: rotated.key.id });

    const snapshot = new Principals(store);
    const end = now + 600_000;
    expect((await authenticate(bearer(secret), snapshot, end - 1)).apiKeyId).toBe(key.id);
    expect((await authenticate(bearer(rotated.secret), snapshot, end + 86_400_000)).apiKeyId).toBe(rotated.key.id);
    await expect(async () => authenticate(bearer(secret), snapshot, end)).rejects.toThrow(expect.objectContaining({ code: "api_key_expired" }));

    now = end - 1;
    expect(await service.actorForKey(secret)).toEqual({ type: "api_key", keyId: key.id, accountId: a.id });
    now = end;
    expect(await failure(service.actorForKey(secret))).toMatchObject({ code: "api_key_expired", status: 401 });
    expect(await service.actorForKey(rotated.secret)).toMatchObject({ keyId: rotated.key.id });
    // Expired, it no longer rotates.
    expect(await failure(service.rotateApiKey(key.id, {}))).toMatchObject({ code: "key_not_rotatable", status: 409 });
  });

  it("never extends a key by rotating it: the replacement keeps the expiry, the grace ends no later", async () => {
    const a = await service.createAccount({ name: "a" });
    const { key } = await service.createApiKey(a.id, { expires_at: "2030-01-01T00:05:00Z", models: ["gpt-*"], limits: { rpm: 5 } });
    const rotated = await service.rotateApiKey(key.id, {});
    expect(rotated.old.expiresAt).toBe("2030-01-01T00:05:00.000Z");
    expect(rotated.key).toMatchObject({ expiresAt: "2030-01-01T00:05:00.000Z", models: ["gpt-*"], limits: { rpm: 5 }, scopes: ["inference"] });
  });

  it("refuses an expired, revoked or inference-only key on the admin side, and one under a suspended ancestor", async () => {
    const root = await service.createAccount({ name: "root" });
    const child = await service.createAccount({ name: "child", parent_id: root.id });
    const expiring = await service.createApiKey(child.id, { scopes: ["manage"], expires_at: "2030-01-01T01:00:00Z" });
    const inference = await service.createApiKey(child.id, {});
    expect(await failure(service.actorForKey(inference.secret))).toMatchObject({ code: "key_scope_inference_only", status: 403 });
    expect(await failure(service.actorForKey("sy_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))).toMatchObject({ code: "invalid_admin_token" });
    await service.suspendAccount(root.id);
    expect(await failure(service.actorForKey(expiring.secret))).toMatchObject({ code: "account_disabled", status: 403 });
    await service.resumeAccount(root.id);
    expect((await service.actorForKey(expiring.secret)).type).toBe("api_key");
    now = Date.parse("2030-01-01T01:00:00Z");
    expect(await failure(service.actorForKey(expiring.secret))).toMatchObject({ code: "api_key_expired" });
    await service.revokeApiKey(inference.key.id);
    expect(await failure(service.actorForKey(inference.secret))).toMatchObject({ code: "invalid_admin_token" });
    // Only the successful authentication counts as use (last_used_at, written in batches).
    expect(used).toEqual([expiring.key.id]);
  });

  it("enforces the subtree for in-process callers too", async () => {
    const a = await service.createAccount({ name: "a" });
    const a1 = await service.createAccount({ name: "a1", parent_id: a.id });
    const a11 = await service.createAccount({ name: "a11", parent_id: a1.id });
    const a2 = await service.createAccount({ name: "a2", parent_id: a.id });
    const { key } = await service.createApiKey(a1.id, { scopes: ["manage"] });
    const ctx: AdminContext = { actor: { type: "api_key", keyId: key.id, accountId: a1.id } };
    expect((await service.listAccounts(ctx)).map((x) => x.name)).toEqual(["a1", "a11"]);
    expect((await service.ancestors(a11.id, ctx)).map((x) => x.name)).toEqual(["a1"]);
    expect(await service.ancestors(a1.id, ctx)).toEqual([]);
    expect((await service.ancestors(a11.id)).map((x) => x.name)).toEqual(["a1", "a"]);
    expect(await failure(service.getAccount(a2.id, ctx))).toMatchObject({ code: "account_not_found", status: 404 });
    expect(await failure(service.suspendAccount(a1.id, ctx))).toMatchObject({ code: "own_account_read_only", status: 403 });
    // Upstreams: only those its subtree owns (none here).
    expect(await service.listUpstreams(ctx)).toEqual([]);
    expect((await service.suspendAccount(a11.id, ctx)).status).toBe("disabled");
    // The CLI and the YAML bootstrap act with the root's reach.
    expect(await service.listAccounts({ actor: { type: "cli" } })).toHaveLength(4);
  });

  it("deletes a subtree only with cascade, running the hook deepest first, and a refusing hook undoes it all", async () => {
    const a = await service.createAccount({ name: "a" });
    const b = await service.createAccount({ name: "b", parent_id: a.id });
    await service.createAccount({ name: "c", parent_id: b.id });
    const { key } = await service.createApiKey(b.id, {});
    expect(await failure(service.deleteAccount(a.id))).toMatchObject({ code: "has_children", status: 409 });
    expect(deleted).toEqual([]);

    refuseDelete = "b";
    expect(await failure(service.deleteAccount(a.id, { cascade: true }))).toMatchObject({ status: 409 });
    expect((await store.accounts.list()).map((x) => x.name)).toEqual(["a", "b", "c"]);
    expect(await store.apiKeys.get(key.id)).toBeDefined();

    refuseDelete = undefined;
    deleted = [];
    await service.deleteAccount(a.id, { cascade: true });
    expect(deleted).toEqual(["c", "b", "a"]);
    expect(await store.accounts.list()).toEqual([]);
    expect(await store.apiKeys.get(key.id)).toBeUndefined();
  });

  it("deletes a leaf without cascade, through the hook", async () => {
    const a = await service.createAccount({ name: "a" });
    const b = await service.createAccount({ name: "b", parent_id: a.id });
    await service.deleteAccount(b.id);
    expect(deleted).toEqual(["b"]);
    expect((await store.accounts.list()).map((x) => x.name)).toEqual(["a"]);
  });

  it("shows when a key was last used", async () => {
    const a = await service.createAccount({ name: "a" });
    const { key } = await service.createApiKey(a.id, {});
    await store.apiKeys.touch(key.id, "2030-01-01T00:00:01.000Z");
    expect((await service.listApiKeys(a.id))[0]!.lastUsedAt).toBe("2030-01-01T00:00:01.000Z");
  });
});
