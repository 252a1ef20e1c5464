import { describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { realtimeAuthHeaders, realtimeModel, realtimeUsage } from "./realtime.js";
import { realtimeUpstreamHeaders, realtimeUrl, servesRealtime } from "../upstream/realtime.js";

describe("Realtime, the parts without sockets", () => {
  it("reads a response.done usage in the gateway's terms: audio and text together, cached as part of input", () => {
    const u = realtimeUsage({
      input_tokens: 120,
      output_tokens: 80,
      input_token_details: { cached_tokens: 64, text_tokens: 20, audio_tokens: 100 },
      output_token_details: { text_tokens: 30, audio_tokens: 50 },
    });
    expect(u).toEqual({ inputTokens: 120, cachedInputTokens: 64, cacheWriteTokens: 0, outputTokens: 80, reasoningTokens: 0 });
    expect(realtimeUsage(null)).toEqual({ inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 });
    // Nonsense from the wire counts as nothing, and cached never exceeds input.
    expect(realtimeUsage({ input_tokens: -5, output_tokens: Number.NaN, input_token_details: { cached_tokens: 9 } })).toMatchObject({
      inputTokens: 0,
      cachedInputTokens: 0,
      outputTokens: 0,
    });
  });

  it("takes a browser's key from the openai-insecure-api-key subprotocol, unless a header carries one", () => {
    const sub = { "sec-websocket-protocol": "realtime, openai-insecure-api-key.sk-abc, openai-beta.realtime-v1" };
    expect(realtimeAuthHeaders(sub).authorization).toBe("Bearer sk-abc");
    expect(realtimeAuthHeaders({ ...sub, authorization: "Bearer sk-header" }).authorization).toBe("Bearer sk-header");
    expect(realtimeAuthHeaders({ ...sub, "x-api-key": "sk-x" }).authorization).toBeUndefined();
    expect(realtimeAuthHeaders({ "sec-websocket-protocol": "realtime, openai-insecure-api-key." }).authorization).toBeUndefined();
  });

  it("needs the model in the query", () => {
    expect(realtimeModel("?model=gpt-realtime")).toBe("gpt-realtime");
    expect(() => realtimeModel("?x=1")).toThrow(GatewayError);
  });

  it("builds the upstream URL from the base URL as the openai SDK does, and forwards only the beta and account selectors", () => {
    expect(realtimeUrl("https://api.openai.com/v1/", "gpt-realtime")).toBe("wss://api.openai.com/v1/realtime?model=gpt-realtime");
    expect(realtimeUrl("http://127.0.0.1:9/v1", "a b")).toBe("ws://127.0.0.1:9/v1/realtime?model=a%20b");
    expect(
      realtimeUpstreamHeaders(
        { "openai-beta": "realtime=v1", authorization: "Bearer client", "x-api-key": "k", cookie: "c", "openai-project": "p" },
        { authorization: "Bearer up" },
      ),
    ).toEqual({ authorization: "Bearer up", "openai-beta": "realtime=v1", "openai-project": "p" });
    expect(servesRealtime({ protocol: "openai-responses", settings: { realtime: true } })).toBe(true);
    expect(servesRealtime({ protocol: "openai-chat", settings: { realtime: true } })).toBe(false);
    expect(servesRealtime({ protocol: "openai-responses", settings: {} })).toBe(false);
  });
});
