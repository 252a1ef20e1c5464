/** Public surface of the mock upstream, for tests and benchmarks elsewhere in the repo. */
export { startMockUpstream } from "./server.js";
export type { JsonValue, MockProtocol, MockRule, MockUpstream, MockUpstreamOptions, RecordedRequest, Scenario } from "./types.js";
export { type ParsedEvent, assertAnthropicStream, assertChatStream, assertResponsesStream, parseSse } from "./stream-order.js";
export { ANTHROPIC_HEADERS, CODEX_HEADERS, OPENAI_HEADERS, type RawResult, rawRequest } from "./testing.js";
export { CODEX_UNSUPPORTED } from "./codex.js";
export type { MockSocketConnection, MockSockets } from "./responses-websocket.js";
export { ANTHROPIC_ERROR_TYPES } from "./anthropic.js";
export { codexAccount, codexUsageHeaders } from "./codex-usage.js";
