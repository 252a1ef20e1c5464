/**
 * The docs cover what the server does: every admin route is in the OpenAPI document
 * and in docs/admin-api.md (and the document lists no route the server lacks), every
 * data-plane route the edge registers is in README.md, and every status and error code
 * the admin API answers with is in docs/admin-api.md and declared in the OpenAPI
 * document. (src/canonical/error-codes.test.ts holds docs/errors.md to the whole catalogue.)
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { adminRoutes } from "./admin/routes.js";
import { openApiDocument } from "./admin/openapi.js";
import { ERROR_CODES } from "./canonical/error-codes.js";

const read = (rel: string): string => readFileSync(new URL(`../${rel}`, import.meta.url), "utf8");
const ADMIN_DOC = read("docs/admin-api.md");
const README = read("README.md");

type Operation = { responses?: Record<string, unknown>; security?: unknown[] };
const openApi = openApiDocument() as { paths: Record<string, Record<string, Operation>> };
const METHODS = new Set(["get", "post", "put", "patch", "delete", "head"]);

describe("admin routes", () => {
  const routes = adminRoutes();

  it("are found", () => {
    expect(routes.length).toBeGreaterThan(15);
  });

  it("each is in the OpenAPI document, which names no other", () => {
    const documented = Object.entries(openApi.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((k) => METHODS.has(k))
        .map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(routes.map((r) => `${r.method} /admin/v1${r.path}`).sort());
  });

  it("each is in docs/admin-api.md", () => {
    for (const r of routes) {
      const named = ADMIN_DOC.includes(`\`${r.method} ${r.path}\``) || ADMIN_DOC.includes(`\`${r.method} /admin/v1${r.path}\``);
      expect(named, `${r.method} ${r.path}`).toBe(true);
    }
  });
});

describe("data-plane routes", () => {
  /** The paths src/edge/server.ts routes on: the generate table's keys and every path it compares with. */
  function edgePaths(): string[] {
    const server = read("src/edge/server.ts");
    const table = /const GENERATE_ROUTES[^{]*\{([^}]*)\}/.exec(server)?.[1] ?? "";
    const paths = new Set([...table.matchAll(/"(\/[^"]*)":/g)].map((m) => m[1]!));
    for (const m of server.matchAll(/path === "(\/[^"]*)"/g)) paths.add(m[1]!);
    // The WebSocket upgrade is routed beside the server.
    for (const m of read("src/edge/responses-websocket.ts").matchAll(/path !== "(\/[^"]*)"/g)) paths.add(m[1]!);
    return [...paths];
  }

  it("are found", () => {
    expect(edgePaths()).toEqual(expect.arrayContaining(["/v1/chat/completions", "/v1/messages/count_tokens", "/v1/models", "/healthz", "/"]));
  });

  it("each is in README.md, with its method", () => {
    for (const path of edgePaths()) {
      const escaped = path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      expect(new RegExp(`\`(GET|POST|HEAD) ${escaped}\``).test(README), path).toBe(true);
    }
  });
});

describe("admin errors", () => {
  /** The codes in the error table of docs/admin-api.md, and its statuses. */
  function documented(): { codes: Set<string>; statuses: Set<string> } {
    const codes = new Set<string>();
    const statuses = new Set<string>();
    for (const line of ADMIN_DOC.split("## Errors")[1]!.split("\n## ")[0]!.split("\n")) {
      const cells = line.split("|").map((c) => c.trim());
      if (!/^\d{3}$/.test(cells[1] ?? "")) continue;
      statuses.add(cells[1]!);
      for (const m of (cells[2] ?? "").matchAll(/`([a-z_]+)`/g)) codes.add(m[1]!);
    }
    return { codes, statuses };
  }

  it("every code the admin API answers with is in docs/admin-api.md, with the catalogue's status", () => {
    const { codes } = documented();
    const admin = Object.entries(ERROR_CODES)
      .filter(([, info]) => info.description.startsWith("Admin API"))
      .map(([code]) => code);
    // Answered by the edge on admin paths too.
    const edge = ["invalid_json", "unknown_route", "method_not_allowed", "request_too_large"];
    for (const code of [...admin, ...edge]) expect(codes.has(code), code).toBe(true);
    for (const code of codes) expect(Object.hasOwn(ERROR_CODES, code), `${code} is not a catalogue code`).toBe(true);
  });

  it("every status of the table is declared by each authenticated operation of the OpenAPI document", () => {
    const { statuses } = documented();
    expect([...statuses]).toEqual(expect.arrayContaining(["400", "401", "404", "405", "409", "413", "500"]));
    for (const [path, item] of Object.entries(openApi.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!METHODS.has(method) || (op.security && op.security.length === 0)) continue;
        for (const status of statuses) expect(op.responses, `${method.toUpperCase()} ${path}: ${status}`).toHaveProperty(status);
      }
    }
  });
});
