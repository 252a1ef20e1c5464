import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { generateKey } from "../governance/api-keys.js";
import { buildPrincipals, modelAllowed } from "../governance/principals.js";
import type { ApiKeyScope, Store } from "../storage/ports.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { authenticate } from "./authenticate.js";

let t: TestStore;
let store: Store;

beforeEach(async () => {
  t = await openTestStore("sqlite");
  store = t.store;
});
afterEach(() => t.dispose());

async function issue(accountId: string, opts: { scopes?: ApiKeyScope[]; expiresAt?: string; models?: string[] } = {}): Promise<string> {
  const { secret, prefix, hash } = generateKey();
  await store.apiKeys.create({ accountId, name: "k", prefix, hash, ...opts });
  return secret;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

function refusal(fn: () => unknown): { status: number; code: string } {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GatewayError);
    return { status: (e as GatewayError).status, code: (e as GatewayError).code };
  }
  throw new Error("not refused");
}

describe("authenticate: scopes and expiry", () => {
  it("refuses a manage-only key on the data plane and admits inference keys", async () => {
    const a = await store.accounts.create({ name: "a" });
    const manage = await issue(a.id, { scopes: ["manage"] });
    const both = await issue(a.id, { scopes: ["inference", "manage"] });
    const plain = await issue(a.id);
    const snapshot = await buildPrincipals(store, 1);
    expect(refusal(() => authenticate(bearer(manage), snapshot))).toEqual({ status: 403, code: "key_scope_manage_only" });
    expect(authenticate(bearer(both), snapshot).account.id).toBe(a.id);
    expect(authenticate({ "x-api-key": plain }, snapshot).scopes).toEqual(["inference"]);
  });

  it("refuses a key from its expiry on, by the clock it is given, whatever its scopes", async () => {
    const a = await store.accounts.create({ name: "a" });
    const expiry = "2030-06-01T00:00:00.000Z";
    const at = Date.parse(expiry);
    const key = await issue(a.id, { expiresAt: expiry });
    const manage = await issue(a.id, { scopes: ["manage"], expiresAt: expiry });
    const snapshot = await buildPrincipals(store, 1);
    expect(authenticate(bearer(key), snapshot, at - 1).account.id).toBe(a.id);
    expect(refusal(() => authenticate(bearer(key), snapshot, at))).toEqual({ status: 401, code: "api_key_expired" });
    expect(refusal(() => authenticate(bearer(manage), snapshot, at + 1))).toEqual({ status: 401, code: "api_key_expired" });
    expect(refusal(() => authenticate(bearer(manage), snapshot, at - 1))).toEqual({ status: 403, code: "key_scope_manage_only" });
  });

  it("narrows the account's models by the key's own, as the chain's last link", async () => {
    const org = await store.accounts.create({ name: "org", settings: { models: ["gpt-*"] } });
    const team = await store.accounts.create({ name: "team", parentId: org.id });
    const narrowKey = await issue(team.id, { models: ["gpt-4o*"] });
    // A stored key wider than its account (written around the admin check) still gets no more than the account.
    const wideKey = await issue(team.id, { models: ["gpt-*", "claude-*"] });
    const snapshot = await buildPrincipals(store, 1);
    const narrow = authenticate(bearer(narrowKey), snapshot);
    expect(modelAllowed(narrow, "gpt-4o-mini")).toBe(true);
    expect(modelAllowed(narrow, "gpt-5")).toBe(false);
    const wide = authenticate(bearer(wideKey), snapshot);
    expect(modelAllowed(wide, "gpt-5")).toBe(true);
    expect(modelAllowed(wide, "claude-3")).toBe(false);
  });
});
