/**
 * Directive syntax shared by the three ways to choose a scenario:
 *   in the last user message:   [[mock:tool_call]] [[mock:delay=200]]   (or [[mock:tool_call,delay=200]])
 *   in a request header:        x-mock-scenario: tool_call, delay=200
 *   in a script rule:           mock.script({ scenario: "tool_call,delay=200" })
 * `text=` swallows the rest of its list (it may contain commas).
 * The directive table lives in README.md and at the top of server.ts.
 */
import type { Scenario } from "./types.js";

export const DEFAULT_SCENARIO: Readonly<Scenario> = Object.freeze({
  reasoning: false,
  toolCalls: "none",
  toolName: undefined,
  errorStatus: undefined,
  errorMessage: undefined,
  retryAfter: undefined,
  delayMs: 0,
  chunkDelayMs: 0,
  resetAfter: undefined,
  streamError: undefined,
  streamErrorAfter: undefined,
  maxTokens: false,
  text: undefined,
  cachedTokens: undefined,
  cacheWriteTokens: undefined,
  rateLimits: false,
  usagePrimary: undefined,
  usageSecondary: undefined,
  usageLimitSeconds: undefined,
  planType: undefined,
  byteSplit: false,
});

export interface ParsedDirectives {
  scenario: Partial<Scenario>;
  /** Directive names the mock does not know (reported as a 400 so typos are loud). */
  unknown: string[];
}

const MARKER = /\[\[mock:([^\]]*)\]\]/g;

/** Parse every `[[mock:…]]` marker in a message text. Cheap when there is none. */
export function parseTextDirectives(text: string): ParsedDirectives {
  const out: ParsedDirectives = { scenario: {}, unknown: [] };
  if (!text.includes("[[mock:")) return out;
  for (const m of text.matchAll(MARKER)) applyList(m[1] ?? "", out);
  return out;
}

/** Parse a comma-separated directive list (header or script syntax). */
export function parseDirectiveList(list: string): ParsedDirectives {
  const out: ParsedDirectives = { scenario: {}, unknown: [] };
  applyList(list, out);
  return out;
}

/** The text with the markers removed and whitespace collapsed, for echoing. */
export function stripDirectives(text: string): string {
  return text.replace(MARKER, " ").replace(/\s+/g, " ").trim();
}

/** Later layers win field by field. */
export function resolveScenario(...layers: Array<Partial<Scenario> | undefined>): Scenario {
  const s: Scenario = { ...DEFAULT_SCENARIO };
  for (const layer of layers) {
    if (!layer) continue;
    for (const key of Object.keys(layer) as Array<keyof Scenario>) {
      if (layer[key] !== undefined) assign(s, key, layer[key]);
    }
  }
  return s;
}

function assign<K extends keyof Scenario>(s: Scenario, key: K, value: Scenario[K]): void {
  s[key] = value;
}

function applyList(list: string, out: ParsedDirectives): void {
  let rest = list;
  while (rest.length > 0) {
    const trimmed = rest.trimStart();
    if (trimmed.startsWith("text=")) {
      out.scenario.text = trimmed.slice(5);
      return;
    }
    const comma = trimmed.indexOf(",");
    const item = (comma === -1 ? trimmed : trimmed.slice(0, comma)).trim();
    rest = comma === -1 ? "" : trimmed.slice(comma + 1);
    if (item) applyOne(item, out);
  }
}

function applyOne(item: string, out: ParsedDirectives): void {
  const eq = item.indexOf("=");
  const name = (eq === -1 ? item : item.slice(0, eq)).trim().toLowerCase();
  const value = eq === -1 ? undefined : item.slice(eq + 1).trim();
  const s = out.scenario;
  switch (name) {
    case "text":
      s.text = value ?? "";
      return;
    case "tool_call":
    case "tool_calls":
      s.toolCalls = "single";
      return;
    case "parallel_tools":
      s.toolCalls = "parallel";
      return;
    case "tool":
      if (!value) return void out.unknown.push(item);
      s.toolCalls = "single";
      s.toolName = value;
      return;
    case "no_tools":
      s.toolCalls = "none";
      return;
    case "reasoning":
      s.reasoning = true;
      return;
    case "error": {
      const status = toInt(value);
      if (status !== undefined && status >= 400 && status <= 599) s.errorStatus = status;
      else out.unknown.push(item);
      return;
    }
    case "error_message":
      s.errorMessage = value ?? "";
      return;
    case "retry_after":
      s.retryAfter = value ?? "1";
      return;
    case "delay":
      s.delayMs = toInt(value) ?? 0;
      return;
    case "chunk_delay":
      s.chunkDelayMs = toInt(value) ?? 0;
      return;
    case "reset_after":
      s.resetAfter = toInt(value) ?? 0;
      return;
    case "stream_error":
      s.streamError = value ? value : true;
      return;
    case "error_after": {
      const n = toInt(value);
      if (n === undefined) return void out.unknown.push(item);
      s.streamErrorAfter = n;
      return;
    }
    case "max_tokens":
      s.maxTokens = true;
      return;
    case "cached":
      s.cachedTokens = toInt(value) ?? 0;
      return;
    case "cache_write":
      s.cacheWriteTokens = toInt(value) ?? 0;
      return;
    case "rate_limits":
      s.rateLimits = true;
      return;
    case "byte_split":
      s.byteSplit = true;
      return;
    // Codex plan usage (codex-usage.ts).
    case "usage":
    case "usage_secondary": {
      const pct = value === undefined || !/^\d+(\.\d+)?$/.test(value) ? undefined : Number(value);
      if (pct === undefined || pct > 100) return void out.unknown.push(item);
      if (name === "usage") s.usagePrimary = pct;
      else s.usageSecondary = pct;
      return;
    }
    case "usage_limit": {
      const secs = value === undefined ? 3600 : toInt(value);
      if (secs === undefined) return void out.unknown.push(item);
      s.errorStatus = 429;
      s.usageLimitSeconds = secs;
      return;
    }
    case "plan":
      if (!value) return void out.unknown.push(item);
      s.planType = value;
      return;
    default:
      out.unknown.push(item);
  }
}

function toInt(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}
