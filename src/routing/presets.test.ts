/**
 * Provider presets (canonical/provider-presets.ts): every preset, filled into a YAML
 * upstream and applied like the file at start, becomes a catalog target speaking its
 * protocol, at its base URL, serving its models, presenting its key the way the preset
 * says, with the prompt_cache_key setting its provider documents. Every example in
 * docs/providers.md parses, and together they cover every preset.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PRESET_NAMES, PROVIDER_PRESETS, withPresetDefaults, type AuthStyle } from "../canonical/provider-presets.js";
import { applyBootstrap } from "../config/bootstrap.js";
import { parseConfig } from "../config/load.js";
import { SecretBox } from "../governance/secrets.js";
import { openTestStore, type TestStore } from "../testing/test-stores.js";
import { createCredential } from "../upstream/credentials.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { sendsPromptCacheKey } from "../upstream/prompt-cache-key.js";
import { buildSnapshot } from "./catalog.js";

let t: TestStore;
beforeEach(async () => {
  t = await openTestStore("sqlite");
});
afterEach(() => t.dispose());

const AUTH_HEADERS: Record<AuthStyle, (h: Record<string, string>) => boolean> = {
  bearer: (h) => h.authorization === "Bearer secret-1" && h["x-api-key"] === undefined,
  "x-api-key": (h) => h["x-api-key"] === "secret-1" && h.authorization === undefined,
  "chatgpt-oauth": (h) => h.authorization === "Bearer secret-1" && h["chatgpt-account-id"] === "acct-1",
};

describe("provider presets", () => {
  it("each compiles into a catalog target that matches what the preset says", async () => {
    const yaml = `upstreams:\n${PRESET_NAMES.map((n) => `  - name: ${n}\n    preset: ${n}\n    keys: [secret-1]\n${n === "codex" ? "    account_id: acct-1\n" : ""}`).join("")}`;
    const config = parseConfig(yaml, "presets.yaml", {});
    const secrets = new SecretBox(randomBytes(32));
    await applyBootstrap(t.store, secrets, config, "presets.yaml");
    const snapshot = await buildSnapshot(t.store, secrets, 1);
    expect(snapshot.upstreams.map((u) => u.upstream.name).sort()).toEqual([...PRESET_NAMES].sort());

    for (const target of snapshot.upstreams) {
      const name = target.upstream.name as keyof typeof PROVIDER_PRESETS;
      const preset = PROVIDER_PRESETS[name];
      expect(target.protocol, name).toBe(preset.protocol);
      expect(target.upstream.baseUrl, name).toBe(preset.baseUrl);
      for (const m of preset.models) expect(target.models.matches(m.replaceAll("*", "x")), `${name} serves ${m}`).toBe(true);
      expect(new URL(upstreamUrl(target.protocol, target.upstream.baseUrl, "generate")).protocol, name).toBe("https:");
      // A documented answer decides; silence leaves the protocol's default.
      const expected = preset.accepts.promptCacheKey ?? sendsPromptCacheKey({ ...target.upstream, settings: {} });
      expect(target.sendsCacheKey, `${name} prompt_cache_key`).toBe(target.protocol === "anthropic" ? false : expected);
      const headers: Record<string, string> = {};
      await createCredential(target.upstream, target.pool.keys[0]!.secret).authorize(headers, new AbortController().signal);
      expect(AUTH_HEADERS[preset.auth](headers), `${name} sends its key as ${preset.auth}: ${JSON.stringify(headers)}`).toBe(true);
      expect(preset.docs.length, `${name} cites its documents`).toBeGreaterThan(0);
      for (const d of preset.docs) expect(d.startsWith("https://") || existsSync(d), `${name}: ${d}`).toBe(true);
    }
  });

  it("lets the entry override what the preset fills", () => {
    const config = parseConfig(
      `upstreams:\n  - name: ds\n    preset: dashscope\n    base_url: https://dashscope-intl.aliyuncs.com/compatible-mode/v1\n    models: [qwen3-coder-plus]\n    prompt_cache_key: true\n`,
      "t.yaml",
      {},
    );
    expect(config.upstreams[0]).toMatchObject({
      protocol: "openai-chat",
      base_url: "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
      models: ["qwen3-coder-plus"],
      prompt_cache_key: true,
    });
    expect(withPresetDefaults({ name: "x", preset: "openai", prompt_cache_key: false })).toMatchObject({ prompt_cache_key: false });
  });

  it("refuses an unknown preset, naming the known ones", () => {
    expect(() => parseConfig(`upstreams:\n  - name: x\n    preset: nosuch\n`, "t.yaml", {})).toThrow(/unknown preset 'nosuch' \(known: openai, /);
  });

  it("has an example in docs/providers.md for every preset, each a valid configuration", () => {
    const doc = readFileSync("docs/providers.md", "utf8");
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const named = new Set<string>();
    // Every variable the examples name, set the way a user would export it.
    const env = Object.fromEntries([...doc.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => [m[1]!, "k-from-env"])) as NodeJS.ProcessEnv;
    for (const block of blocks) {
      const config = parseConfig(block, "providers.md", env);
      for (const u of config.upstreams) if (u.preset) named.add(u.preset);
    }
    expect([...named].sort()).toEqual([...PRESET_NAMES].sort());
  });
});
