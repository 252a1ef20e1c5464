import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startStack, type Stack } from "../testing/stack.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: "admin-token-for-tests-0123456789-abcdef" } });
});
afterAll(() => stack.close());

async function admin(method: string, path: string, body?: unknown, token = "admin-token-for-tests-0123456789-abcdef"): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe("admin API", () => {
  it("refuses requests without the admin token", async () => {
    const r = await admin("GET", "/accounts", undefined, "wrong");
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe("invalid_admin_token");
  });

  it("serves its OpenAPI document publicly, covering every route", async () => {
    const res = await fetch(`${stack.gw.url}/admin/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/admin/v1/accounts", "/admin/v1/accounts/{id}/keys", "/admin/v1/upstreams/{id}/keys/{key_id}", "/admin/v1/keys/{id}"]),
    );
    expect(Object.keys(doc.components.schemas.CreateUpstream!.properties!)).toEqual(
      expect.arrayContaining(["name", "protocol", "base_url", "models", "account_id"]),
    );
  });

  it("creates an account tree, issues a key shown once, and the key works at once", async () => {
    const dept = await admin("POST", "/accounts", { name: "research", models: ["gpt-4o*"] });
    expect(dept.status).toBe(201);
    const person = await admin("POST", "/accounts", { name: "ada", parent_id: dept.json.id });
    expect(person.json.parent_id).toBe(dept.json.id);
    const key = await admin("POST", `/accounts/${person.json.id}/keys`, { name: "laptop" });
    expect(key.status).toBe(201);
    expect(key.json.key).toMatch(/^sy_[0-9a-f]{8}_[0-9A-Za-z]{32}$/);
    expect(key.json.prefix).toBe(key.json.key.slice(0, 11));
    const listed = await admin("GET", `/accounts/${person.json.id}/keys`);
    expect(JSON.stringify(listed.json)).not.toContain(key.json.key);

    const client = new OpenAI({ apiKey: key.json.key, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    const ok = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(ok.choices[0]!.message.content).toBeTruthy();
    await expect(client.chat.completions.create({ model: "claude-test-sonnet", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({
      status: 403,
    });

    const desc = await admin("GET", `/accounts/${dept.json.id}/descendants`);
    expect(desc.json.data.map((a: { name: string }) => a.name)).toEqual(["ada"]);

    expect((await admin("DELETE", `/keys/${key.json.id}`)).status).toBe(204);
    await expect(client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] })).rejects.toMatchObject({ status: 401 });
  });

  it("rejects a child that would exceed its parent, and deleting a parent with children", async () => {
    const parent = await admin("POST", "/accounts", { name: "ops", models: ["gpt-4o"] });
    const child = await admin("POST", "/accounts", { name: "ops-bot", parent_id: parent.json.id, models: ["gpt-4o", "claude-*"] });
    expect(child.status).toBe(400);
    expect(child.json.error).toMatchObject({ code: "exceeds_parent", param: "models" });
    const okChild = await admin("POST", "/accounts", { name: "ops-bot", parent_id: parent.json.id });
    expect(okChild.status).toBe(201);
    const del = await admin("DELETE", `/accounts/${parent.json.id}`);
    expect(del.status).toBe(409);
    const dup = await admin("POST", "/accounts", { name: "ops" });
    expect(dup.status).toBe(409);
  });

  it("applies a parent's narrowing to its sub-accounts' keys at once, and refuses one that would leave a sub-account wider", async () => {
    const dept = await admin("POST", "/accounts", { name: "sales", models: ["gpt-4o*", "claude-*"] });
    const person = await admin("POST", "/accounts", { name: "sam", parent_id: dept.json.id });
    const bot = await admin("POST", "/accounts", { name: "sales-bot", parent_id: dept.json.id, models: ["claude-test-sonnet"] });
    const key = (await admin("POST", `/accounts/${person.json.id}/keys`, {})).json.key as string;
    const client = new OpenAI({ apiKey: key, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    const ask = (model: string) => client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }] });
    await expect(ask("claude-test-sonnet")).resolves.toBeTruthy();

    const refused = await admin("PATCH", `/accounts/${dept.json.id}`, { models: ["gpt-4o*"] });
    expect(refused.status).toBe(409);
    expect(refused.json.error).toMatchObject({ code: "children_outside_policy", param: "models" });
    expect(refused.json.error.message).toContain("'sales-bot' (models: claude-test-sonnet)");

    expect((await admin("PATCH", `/accounts/${bot.json.id}`, { models: [] })).status).toBe(200);
    expect((await admin("PATCH", `/accounts/${dept.json.id}`, { models: ["gpt-4o*"] })).status).toBe(200);
    await expect(ask("claude-test-sonnet")).rejects.toMatchObject({ status: 403 });
    await expect(ask("gpt-4o")).resolves.toBeTruthy();
  });

  it("validates bodies with field-level messages", async () => {
    const r = await admin("POST", "/upstreams", { name: "x", protocol: "grpc", base_url: "ftp://x", models: [] });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("invalid_field");
    expect(r.json.error.param).toBeTruthy();
  });

  it("stores upstream credentials encrypted and shows only fingerprints", async () => {
    const up = await admin("POST", "/upstreams", { name: "extra", protocol: "openai-chat", base_url: `${stack.mock.url}/v1`, models: ["extra-model"] });
    expect(up.status).toBe(201);
    const k = await admin("POST", `/upstreams/${up.json.id}/keys`, { name: "main", key: "sk-upstream-very-secret" });
    expect(k.status).toBe(201);
    expect(k.json.fingerprint).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(JSON.stringify(k.json)).not.toContain("very-secret");
    const stored = await stack.gw.store.upstreamKeys.get(k.json.id);
    expect(stored!.ciphertext).not.toContain("very-secret");

    const acme = (await admin("GET", "/accounts")).json.data.find((a: { name: string }) => a.name === "acme");
    const key = await admin("POST", `/accounts/${acme.id}/keys`, {});
    stack.mock.clear();
    const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${key.json.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "extra-model", messages: [{ role: "user", content: "x" }] }),
    });
    expect(res.status).toBe(200);
    expect(stack.mock.requests[0]!.headers.authorization).toBe("Bearer sk-upstream-very-secret");
  });

  it("turns prompt_cache_key on for a Chat upstream, effective on the next request, and back to the default with null", async () => {
    const up = await admin("POST", "/upstreams", { name: "compat", protocol: "openai-chat", base_url: `${stack.mock.url}/v1`, models: ["compat-model"] });
    expect(up.json.prompt_cache_key).toBe(false);
    await admin("POST", `/upstreams/${up.json.id}/keys`, { key: "sk-upstream-compat" });
    const acme = (await admin("GET", "/accounts")).json.data.find((a: { name: string }) => a.name === "acme");
    const key = (await admin("POST", `/accounts/${acme.id}/keys`, {})).json.key as string;
    const call = async (): Promise<Record<string, unknown>> => {
      stack.mock.clear();
      const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({
          model: "compat-model",
          messages: [
            { role: "system", content: "Be brief." },
            { role: "user", content: "x" },
          ],
        }),
      });
      expect(res.status).toBe(200);
      return stack.mock.requests[0]!.json as Record<string, unknown>;
    };
    expect(await call()).not.toHaveProperty("prompt_cache_key");

    const on = await admin("PATCH", `/upstreams/${up.json.id}`, { prompt_cache_key: true });
    expect(on.json.prompt_cache_key).toBe(true);
    expect((await call()).prompt_cache_key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    const cleared = await admin("PATCH", `/upstreams/${up.json.id}`, { prompt_cache_key: null });
    expect(cleared.json.prompt_cache_key).toBe(false);
    expect(await call()).not.toHaveProperty("prompt_cache_key");
  });
});

describe("upstream settings", () => {
  it("forward_headers: a strict allow list set over the API applies to the next request, and null restores the default", async () => {
    const up = await admin("POST", "/upstreams", {
      name: "strict",
      protocol: "openai-chat",
      base_url: `${stack.mock.url}/v1`,
      models: ["strict-model"],
      forward_headers: { mode: "allow", names: ["x-team"] },
    });
    expect(up.status).toBe(201);
    expect(up.json.forward_headers).toEqual({ mode: "allow", names: ["x-team"] });
    await admin("POST", `/upstreams/${up.json.id}/keys`, { key: "sk-upstream-strict" });
    const acme = (await admin("GET", "/accounts")).json.data.find((a: { name: string }) => a.name === "acme");
    const key = (await admin("POST", `/accounts/${acme.id}/keys`, {})).json.key as string;
    const seen = async (): Promise<Record<string, unknown>> => {
      stack.mock.clear();
      const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-team": "platform", "x-trace-id": "t-1" },
        body: JSON.stringify({ model: "strict-model", messages: [{ role: "user", content: "x" }] }),
      });
      expect(res.status).toBe(200);
      return stack.mock.requests[0]!.headers;
    };
    const strict = await seen();
    expect(strict["x-team"]).toBe("platform");
    expect(strict).not.toHaveProperty("x-trace-id");

    const denied = await admin("PATCH", `/upstreams/${up.json.id}`, { forward_headers: { mode: "deny", names: ["X-Team"] } });
    expect(denied.json.forward_headers).toEqual({ mode: "deny", names: ["x-team"] });
    const deny = await seen();
    expect(deny).not.toHaveProperty("x-team");
    expect(deny["x-trace-id"]).toBe("t-1");

    const cleared = await admin("PATCH", `/upstreams/${up.json.id}`, { forward_headers: null });
    expect(cleared.json.forward_headers).toEqual({ mode: "deny", names: [] });
    expect(await seen()).toMatchObject({ "x-team": "platform", "x-trace-id": "t-1" });

    const bad = await admin("PATCH", `/upstreams/${up.json.id}`, { forward_headers: { mode: "allow", names: ["bad header"] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: "invalid_field", param: "forward_headers.names.0" });
  });

  it("shows the effective timeout_ms, for upstreams from the API as for those from the file", async () => {
    const up = await admin("POST", "/upstreams", { name: "timeouts", protocol: "openai-chat", base_url: `${stack.mock.url}/v1`, models: ["timeouts-model"] });
    expect(up.json.timeout_ms).toBe(600_000);
    expect(up.json.managed_by).toBe("api");
    expect((await admin("PATCH", `/upstreams/${up.json.id}`, { timeout_ms: 1234 })).json.timeout_ms).toBe(1234);
    expect((await admin("PATCH", `/upstreams/${up.json.id}`, { timeout_ms: null })).json.timeout_ms).toBe(600_000);
    const fromFile = (await admin("GET", "/upstreams")).json.data.find((u: { name: string }) => u.name === "chat");
    expect(fromFile).toMatchObject({ timeout_ms: 600_000, managed_by: "config", forward_headers: { mode: "deny", names: [] } });
  });
});

describe("what the docs promised", () => {
  it("moves an account with PATCH parent_id, and its keys follow the new parent's policy at once", async () => {
    const wide = await admin("POST", "/accounts", { name: "move-wide" });
    const narrowParent = await admin("POST", "/accounts", { name: "move-narrow", models: ["gpt-4o"] });
    const child = await admin("POST", "/accounts", { name: "move-child", parent_id: wide.json.id });
    const key = (await admin("POST", `/accounts/${child.json.id}/keys`, {})).json.key as string;
    const call = async (model: string) =>
      (
        await fetch(`${stack.gw.url}/v1/chat/completions`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ model, messages: [{ role: "user", content: "x" }] }),
        })
      ).status;
    expect(await call("claude-test-sonnet")).toBe(200);
    const moved = await admin("PATCH", `/accounts/${child.json.id}`, { parent_id: narrowParent.json.id });
    expect(moved.status).toBe(200);
    expect(moved.json.parent_id).toBe(narrowParent.json.id);
    expect(await call("claude-test-sonnet")).toBe(403);
    expect(await call("gpt-4o")).toBe(200);
    const cycle = await admin("PATCH", `/accounts/${narrowParent.json.id}`, { parent_id: child.json.id });
    expect(cycle.status).toBe(400);
    expect(cycle.json.error).toMatchObject({ code: "cycle", param: "parent_id" });
  });

  it("refuses a key for an upstream the YAML file declares, naming the fix", async () => {
    const chat = (await admin("GET", "/upstreams")).json.data.find((u: { name: string }) => u.name === "chat");
    const r = await admin("POST", `/upstreams/${chat.id}/keys`, { key: "sk-would-vanish-at-restart" });
    expect(r.status).toBe(409);
    expect(r.json.error.code).toBe("upstream_managed_by_config");
    expect(r.json.error.message).toContain("'keys'");
    expect((await admin("GET", `/upstreams/${chat.id}/keys`)).json.data).toHaveLength(2);
  });

  it("answers an unknown admin path with unknown_route in the admin envelope", async () => {
    const unknown = await admin("GET", "/nothing-here");
    expect(unknown.status).toBe(404);
    expect(unknown.json.error.code).toBe("unknown_route");
  });

  it("declares 405 and 413 in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${stack.gw.url}/admin/v1/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
    };
    const patch = doc.paths["/admin/v1/accounts/{id}"]!.patch!;
    expect(Object.keys(patch.responses!)).toEqual(expect.arrayContaining(["405", "409", "413"]));
  });
});

describe("operations endpoints", () => {
  it("answers health, readiness, the Claude Code pre-connect, and Prometheus metrics", async () => {
    expect((await fetch(`${stack.gw.url}/healthz`)).status).toBe(200);
    expect(await (await fetch(`${stack.gw.url}/readyz`)).json()).toEqual({ status: "ready" });
    expect((await fetch(`${stack.gw.url}/`, { method: "HEAD" })).status).toBe(200);
    const metrics = await (await fetch(`${stack.gw.url}/metrics`)).text();
    expect(metrics).toContain("switchyard_requests_total");
    expect(metrics).toContain("switchyard_request_duration_seconds_bucket");
    expect(metrics).toContain("switchyard_upstream_errors_total");
  });

  it("lists the models a key may use in the client's shape", async () => {
    const all = await fetch(`${stack.gw.url}/v1/models`, { headers: { authorization: "Bearer sk-test-acme-000000000000000001" } });
    const ids = ((await all.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(["gpt-4o", "gpt-5", "claude-test-sonnet", "gpt-5-codex"]));
    const team = await fetch(`${stack.gw.url}/v1/models`, { headers: { "x-api-key": "sk-test-team-000000000000000002", "anthropic-version": "2023-06-01" } });
    const body = (await team.json()) as { data: Array<{ id: string; type: string }>; has_more: boolean };
    // The team allows gpt-4o* and claude-*: the declared names and the known models the upstreams' patterns serve.
    const teamIds = body.data.map((m) => m.id);
    expect(teamIds).toEqual(expect.arrayContaining(["claude-test-sonnet", "gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]));
    expect(teamIds.every((id) => id.startsWith("gpt-4o") || id.startsWith("claude-"))).toBe(true);
    expect(body.data[0]!.type).toBe("model");
  });
});
