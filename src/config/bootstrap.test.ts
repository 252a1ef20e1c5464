import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SecretBox } from "../governance/secrets.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { applyBootstrap } from "./bootstrap.js";
import { parseConfig } from "./load.js";

let t: TestStore;
beforeEach(async () => {
  t = await openTestStore("sqlite");
});
afterEach(() => t.dispose());

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
