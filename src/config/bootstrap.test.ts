import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SecretBox } from "../governance/secrets.js";
import { AuditChain, verifyAuditChain } from "../governance/audit.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { applyBootstrap } from "./bootstrap.js";
import { parseConfig } from "./load.js";

let t: TestStore;
beforeEach(async () => {
  t = await openTestStore("sqlite");
});
afterEach(() => t.dispose());

const yaml = (names: string[]) => `
upstreams:
${names.map((n) => `  - { name: ${n}, protocol: openai-chat, base_url: "https://x.test/v1", models: [m], keys: [sk-${n}] }`).join("\n")}
`;

it("marks the upstreams the file declares, and releases one the file no longer names to the admin API", async () => {
  const secrets = new SecretBox(randomBytes(32));
  await applyBootstrap(t.store, secrets, parseConfig(yaml(["kept", "dropped"]), "f.yaml", {}), "f.yaml");
  const managed = async (name: string) => (await t.store.upstreams.getByName(name))!.settings.managed_by;
  expect([await managed("kept"), await managed("dropped")]).toEqual(["config", "config"]);

  await applyBootstrap(t.store, secrets, parseConfig(yaml(["kept"]), "f.yaml", {}), "f.yaml");
  expect([await managed("kept"), await managed("dropped")]).toEqual(["config", undefined]);
  // Left in place with its keys and other settings.
  const dropped = (await t.store.upstreams.getByName("dropped"))!;
  expect(dropped.settings).toMatchObject({ timeout_ms: 600_000 });
  expect(await t.store.upstreamKeys.listByUpstream(dropped.id)).toHaveLength(1);
});

describe("bootstrap of account model mappings", () => {
  it("stores an account's model_map and follows the file when it changes or goes away", async () => {
    const secrets = new SecretBox(randomBytes(32));
    const apply = (yaml: string): Promise<void> => applyBootstrap(t.store, secrets, parseConfig(yaml, "t.yaml", {}), "t.yaml");
    await apply(`accounts:\n  - name: acme\n    model_map: ["claude-*=gpt-5.4"]\n`);
    expect((await t.store.accounts.getByName("acme"))?.settings).toEqual({ model_map: ["claude-*=gpt-5.4"] });
    await apply(`accounts:\n  - name: acme\n    models: ["gpt-*"]\n    model_map: ["claude-opus-*=gpt-5.4-pro"]\n`);
    expect((await t.store.accounts.getByName("acme"))?.settings).toEqual({ models: ["gpt-*"], model_map: ["claude-opus-*=gpt-5.4-pro"] });
    await apply(`accounts:\n  - name: acme\n`);
    expect((await t.store.accounts.getByName("acme"))?.settings).toEqual({});
  });

  it("refuses a malformed rule in the file, naming the field", () => {
    expect(() => parseConfig(`model_map: ["claude-*"]\n`, "t.yaml", {})).toThrow(/model_map\[0\]: .claude-\*. is not of the form requested=served/);
  });
});

describe("bootstrap audit", () => {
  it("records each change it makes as actor config, and nothing when the file is unchanged", async () => {
    const secrets = new SecretBox(randomBytes(32));
    const chain = new AuditChain();
    const file = (models: string) =>
      `${yaml(["up"])}accounts:\n  - name: org\n    keys: [sk-org-000000000000000001]\n  - name: team\n    parent: org\n    models: [${models}]\n`;
    const apply = (text: string) => applyBootstrap(t.store, secrets, parseConfig(text, "f.yaml", {}), "f.yaml", chain);
    await apply(file("m"));
    const first = await t.store.audit.list();
    expect(first.map((r) => [r.actor, r.action]).reverse()).toEqual([
      ["config", "upstream.create"],
      ["config", "upstream_key.create"],
      ["config", "account.create"],
      ["config", "api_key.create"],
      ["config", "account.create"],
    ]);
    // No secret reaches the trail: keys appear by fingerprint and prefix.
    expect(first.map((r) => r.after).join()).not.toMatch(/sk-up|sk-org/);

    await apply(file("m"));
    expect(await t.store.audit.list()).toHaveLength(5);

    await apply(file("m, n"));
    const [latest] = await t.store.audit.list({ limit: 1 });
    expect(latest).toMatchObject({ seq: 6, actor: "config", action: "account.update", targetId: (await t.store.accounts.getByName("team"))!.id });
    expect(JSON.parse(latest!.after!)).toMatchObject({ settings: { models: ["m", "n"] } });
    expect(await verifyAuditChain(t.store)).toMatchObject({ ok: true, count: 6 });
  });
});
