import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODES, isErrorCode, type ErrorCode } from "./error-codes.js";
import { GatewayError, streamErrorToGatewayError } from "./errors.js";

/** The rows of the code table in docs/errors.md: `code` | HTTP | kind | meaning | what to do. */
function documentedCodes(): Map<string, { status: string; kind: string }> {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const lines = doc.split("\n");
  const header = lines.findIndex((l) => /^\|\s*code\s*\|\s*HTTP\s*\|\s*kind\s*\|/.test(l));
  expect(header, "docs/errors.md: code table not found").toBeGreaterThan(-1);
  const rows = new Map<string, { status: string; kind: string }>();
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [code, status, kind] = line
      .split("|")
      .slice(1, 4)
      .map((c) => c.trim());
    const name = /^`([a-z0-9_]+)`$/.exec(code!)?.[1];
    if (!name) continue; // a section heading row
    expect(rows.has(name), `${name} is listed twice`).toBe(false);
    rows.set(name, { status: status!, kind: kind! });
  }
  return rows;
}

describe("error-code catalogue", () => {
  const documented = documentedCodes();

  it("docs/errors.md lists every catalogue code, and only those", () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("docs/errors.md gives each code the catalogue's status and kind", () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = documented.get(code);
      if (!row) continue; // reported by the test above
      expect(/^\d+/.exec(row.status)?.[0], `${code}: HTTP`).toBe(String(info.status));
      expect(/`(\w+)`/.exec(row.kind)?.[1], `${code}: kind`).toBe(info.kind);
      if ("followsUpstream" in info) expect(row.status + row.kind, `${code}: say that it follows the upstream`).toMatch(/upstream/);
    }
  });

  it("isErrorCode knows the catalogue and nothing else", () => {
    expect(isErrorCode("invalid_api_key")).toBe(true);
    expect(isErrorCode("context_length_exceeded")).toBe(false);
    expect(isErrorCode("toString")).toBe(false);
  });
});

describe("upstream codes", () => {
  it("ride along as upstreamCode and are what goes on the wire", () => {
    const relayed = new GatewayError("invalid_request", "upstream_rejected", "too long", { upstreamCode: "context_length_exceeded" });
    expect(relayed.code).toBe("upstream_rejected");
    expect(relayed.wireCode).toBe("context_length_exceeded");
    expect(new GatewayError("permission", "model_not_allowed", "no").wireCode).toBe("model_not_allowed");
  });

  it("stream errors keep the gateway's decoder codes and carry the upstream's", () => {
    expect(streamErrorToGatewayError({ kind: "upstream", message: "cut", code: "stream_truncated" })).toMatchObject({
      code: "stream_truncated",
      upstreamCode: undefined,
    });
    expect(streamErrorToGatewayError({ kind: "rate_limit", message: "slow", code: "rate_limit_exceeded" })).toMatchObject({
      kind: "rate_limit",
      status: 429,
      code: "upstream_error",
      upstreamCode: "rate_limit_exceeded",
      wireCode: "rate_limit_exceeded",
    });
    // An upstream code that happens to equal a catalogue code is still the upstream's.
    const overlapping: ErrorCode = "invalid_api_key";
    expect(streamErrorToGatewayError({ kind: "authentication", message: "m", code: overlapping })).toMatchObject({
      code: "upstream_error",
      upstreamCode: overlapping,
    });
    expect(streamErrorToGatewayError({ kind: "upstream", message: "m" })).toMatchObject({ code: "upstream_error", wireCode: "upstream_error" });
  });
});
