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

describe("bootstrap of account policies", () => {
  const apply = (text: string): Promise<void> => applyBootstrap(t.store, new SecretBox(randomBytes(32)), parseConfig(text, "org.yaml", {}), "org.yaml");
  const tree = `accounts:
  - name: acme
    limits: { rpm: 600, tpm: 2000000, per_model: { "gpt-5*": { tpm: 500000 } } }
    spend_caps: { monthly_micros: 2000000000 }
    ip_allow: ["10.0.0.0/8", "2001:db8::/32"]
    origins: ["https://app.acme.example"]
    upstreams: [chat, responses]
    price_multiplier: 1.2
    time_zone: Europe/Paris
  - name: engineering
    parent: acme
    models: ["gpt-5*"]
    deny_models: ["gpt-5-pro"]
    limits: { rpm: 300, concurrency: 20 }
    ip_allow: ["10.1.0.0/16"]
    price_multiplier: 1.5
`;

  it("stores the file's policy fields, so an organisation keeps its tree in git; a field left out is cleared again", async () => {
    await apply(tree);
    const acme = (await t.store.accounts.getByName("acme"))!;
    expect(acme.settings).toMatchObject({
      limits: { rpm: 600, per_model: { "gpt-5*": { tpm: 500000 } } },
      time_zone: "Europe/Paris",
      upstreams: ["chat", "responses"],
    });
    expect((await t.store.accounts.getByName("engineering"))!.settings).toEqual({
      models: ["gpt-5*"],
      deny_models: ["gpt-5-pro"],
      limits: { rpm: 300, concurrency: 20 },
      ip_allow: ["10.1.0.0/16"],
      price_multiplier: 1.5,
    });
    await t.store.accounts.update(acme.id, { settings: { ...acme.settings, note: "kept" } });
    await apply(`accounts:\n  - name: acme\n    limits: { rpm: 100 }\n`);
    expect((await t.store.accounts.getByName("acme"))!.settings).toEqual({ limits: { rpm: 100 }, note: "kept" });
  });

  it("fails the start on a child given more than its parent, in one line naming the account, the field and the ancestor", async () => {
    const cases: Array<[string, string]> = [
      ["limits: { rpm: 601 }", "org.yaml: accounts[1] 'engineering': limits.rpm: 601 is above the limit of 600, set by account 'acme'"],
      ['ip_allow: ["192.168.0.0/16"]', "ip_allow: '192.168.0.0/16' is not within [10.0.0.0/8, 2001:db8::/32], set by account 'acme'"],
      ["price_multiplier: 1.1", "price_multiplier: 1.1 is below the multiplier of 1.2, set by account 'acme'"],
      ["upstreams: [anthropic]", "upstreams: 'anthropic' is not within [chat, responses], set by account 'acme'"],
      ["spend_caps: { monthly_micros: 2000000001 }", "spend_caps.monthly_micros"],
      ['limits: { per_model: { "gpt-5-mini": { tpm: 600000 } } }', "limits.per_model.gpt-5-mini.tpm: 600000 is above the limit of 500000"],
    ];
    for (const [line, message] of cases) {
      const text = tree.split("\n").slice(0, 10).join("\n") + `\n    parent: acme\n    ${line}\n`;
      const error = await apply(text).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message, line).toContain(message);
      expect(error?.message).not.toContain("\n");
    }
  });

  it("refuses a malformed policy field in the file, naming it", () => {
    expect(() => parseConfig(`accounts:\n  - name: a\n    ip_allow: ["10.0.0.0/33"]\n`, "org.yaml", {})).toThrow(
      /accounts\[0\]\.ip_allow\[0\]|accounts\.0\.ip_allow/,
    );
    expect(() => parseConfig(`accounts:\n  - name: a\n    time_zone: Mars/Base\n`, "org.yaml", {})).toThrow(/time_zone/);
    expect(() => parseConfig(`server:\n  trusted_proxies: ["proxy.internal"]\n`, "org.yaml", {})).toThrow(/trusted_proxies/);
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
