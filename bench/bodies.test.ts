import { describe, expect, it } from "vitest";
import { buildChatBody, mixedText } from "./bodies.js";

describe("buildChatBody", () => {
  it("builds a ~40 KB Chat request with tools and non-ASCII text", () => {
    const { bytes, nonAsciiBytes } = buildChatBody({ size: "40k", stream: false, model: "m" });
    expect(bytes.length).toBeGreaterThan(39_000);
    expect(bytes.length).toBeLessThan(41_000);
    expect(nonAsciiBytes).toBeGreaterThan(1000);
    const body = JSON.parse(bytes.toString("utf8")) as { model: string; stream: boolean; messages: unknown[]; tools: unknown[] };
    expect(body.model).toBe("m");
    expect(body.stream).toBe(false);
    expect(body.messages).toHaveLength(4);
    expect(body.tools).toHaveLength(8);
  });

  it("builds a 1 KB streaming request that asks for usage", () => {
    const { bytes, nonAsciiBytes } = buildChatBody({ size: "1k", stream: true, model: "m" });
    expect(bytes.length).toBeGreaterThan(900);
    expect(bytes.length).toBeLessThan(1_100);
    expect(nonAsciiBytes).toBeGreaterThan(0);
    expect(JSON.parse(bytes.toString("utf8"))).toMatchObject({ stream: true, stream_options: { include_usage: true } });
  });

  it("builds the same request without stream_options as the OpenAI SDKs send a stream by default", () => {
    const { bytes } = buildChatBody({ size: "1k", stream: true, model: "m", includeUsage: false });
    expect(bytes.length).toBeGreaterThan(900);
    expect(bytes.length).toBeLessThan(1_100);
    const body = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    expect(body.stream).toBe(true);
    expect(body).not.toHaveProperty("stream_options");
  });

  it("is deterministic, so every process sends the same bytes", () => {
    const a = buildChatBody({ size: "40k", stream: true, model: "m" }).bytes;
    const b = buildChatBody({ size: "40k", stream: true, model: "m" }).bytes;
    expect(a.equals(b)).toBe(true);
  });

  it("never carries mock directives, which would change the mock's answer", () => {
    expect(buildChatBody({ size: "40k", stream: false, model: "m" }).bytes.includes("[[mock:")).toBe(false);
  });
});

describe("mixedText", () => {
  it("fills exactly the requested number of UTF-8 bytes", () => {
    for (const n of [0, 1, 6, 443, 16_979]) expect(Buffer.byteLength(mixedText(n, n + 1))).toBe(n);
  });
});
