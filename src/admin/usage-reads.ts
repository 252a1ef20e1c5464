/**
 * Reads behind the usage routes (docs/admin-api.md#usage): an account's usage, or its
 * subtree's, over hourly rollups, grouped by model, API key, child account, hour, day or
 * upstream key, as JSON or CSV; and the gateway-wide cache-hit share per upstream key
 * (root only: upstream keys are the gateway's).
 *
 * The window is widened to whole UTC hours (the rollups' grain): `from` down, `to` up.
 */
import { GatewayError } from "../canonical/errors.js";
import type { Repos, UsageGroupBy, UsageSummary, UsageTotals } from "../storage/ports.js";
import type { AdminContext } from "./context.js";
import { isRoot, visibleAccount } from "./credits.js";
import type * as schemas from "./schemas.js";
import type { z } from "zod";

const HOUR_MS = 3_600_000;
/** The default window when `from` is not given: the 30 days before `to`. */
const DEFAULT_DAYS = 30;

export interface UsageTotalsView {
  requests: number;
  errors: number;
  input_tokens: number;
  cached_input_tokens: number;
  cache_write_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  cost_micros: number;
  charged_micros: number;
  /** Cached input ÷ input (whole prompts, so 0 to 1); null without input. Shows whether prompt caching works. */
  cache_hit_share: number | null;
}

export interface UsageGroupView extends UsageTotalsView {
  group: string;
  /** The account's name, for `group_by=descendant`; null otherwise. */
  name: string | null;
  /** This group's share of the total cost (0 to 1); null when the total is 0. */
  cost_share: number | null;
}

export interface UsageView {
  account: { id: string; name: string } | null;
  scope: "self" | "subtree";
  from: string;
  to: string;
  group_by: UsageGroupBy | null;
  total: UsageTotalsView;
  groups: UsageGroupView[];
}

function totalsView(t: UsageTotals): UsageTotalsView {
  return {
    requests: t.requests,
    errors: t.errors,
    input_tokens: t.inputTokens,
    cached_input_tokens: t.cachedInputTokens,
    cache_write_tokens: t.cacheWriteTokens,
    output_tokens: t.outputTokens,
    reasoning_tokens: t.reasoningTokens,
    cost_micros: t.costMicros,
    charged_micros: t.chargedMicros,
    cache_hit_share: t.inputTokens > 0 ? t.cachedInputTokens / t.inputTokens : null,
  };
}

/** `[from, to)` widened to whole hours, as ISO strings; refused when empty or reversed. */
function window(q: { from?: string; to?: string }, now: number): { from: string; to: string } {
  const to = Math.ceil((q.to === undefined ? now : Date.parse(q.to)) / HOUR_MS) * HOUR_MS;
  const from = Math.floor((q.from === undefined ? to - DEFAULT_DAYS * 24 * HOUR_MS : Date.parse(q.from)) / HOUR_MS) * HOUR_MS;
  if (from >= to) throw new GatewayError("invalid_request", "invalid_field", "from: must be before to.", { param: "from" });
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

async function view(store: Repos, summary: UsageSummary, head: Omit<UsageView, "total" | "groups">): Promise<UsageView> {
  const names = new Map<string, string>();
  if (head.group_by === "descendant") {
    const accounts = await Promise.all(summary.groups.map((g) => store.accounts.get(g.group)));
    for (const a of accounts) if (a) names.set(a.id, a.name);
  }
  const totalCost = summary.total.costMicros;
  return {
    ...head,
    total: totalsView(summary.total),
    groups: summary.groups.map((g) => ({
      group: g.group,
      name: names.get(g.group) ?? null,
      ...totalsView(g),
      cost_share: totalCost > 0 ? g.costMicros / totalCost : null,
    })),
  };
}

export async function readAccountUsage(
  store: Repos,
  accountId: string,
  q: z.output<typeof schemas.usageQuery>,
  ctx: AdminContext,
  now = Date.now(),
): Promise<UsageView> {
  const account = await visibleAccount(store, ctx, accountId);
  const w = window(q, now);
  const groupBy = q.group_by ?? null;
  // Per child means the subtree, whatever `scope` says.
  const scope = groupBy === "descendant" ? "subtree" : q.scope;
  const summary = await store.usage.summarize({ accountId, scope, ...w, ...(groupBy ? { groupBy } : {}) });
  return view(store, summary, { account: { id: account.id, name: account.name }, scope, ...w, group_by: groupBy });
}

export async function readUpstreamKeyUsage(
  store: Repos,
  q: z.output<typeof schemas.upstreamKeyUsageQuery>,
  ctx: AdminContext,
  now = Date.now(),
): Promise<UsageView> {
  if (!isRoot(ctx.actor)) {
    throw new GatewayError("permission", "root_only", "Only the root admin token reads usage per upstream key: upstream keys are the gateway's.");
  }
  const w = window(q, now);
  const summary = await store.usage.summarize({ scope: "subtree", ...w, groupBy: "upstream_key" });
  return view(store, summary, { account: null, scope: "subtree", ...w, group_by: "upstream_key" });
}

/** The CSV columns, in order; the header row never changes meaning (new columns go at the end). */
export const USAGE_CSV_COLUMNS = [
  "group",
  "name",
  "requests",
  "errors",
  "input_tokens",
  "cached_input_tokens",
  "cache_write_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cost_micros",
  "charged_micros",
  "cache_hit_share",
  "cost_share",
] as const;

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? "" : String(v);
  // Quote what would break a row, and defuse a leading formula character for spreadsheets.
  const safe = /^[=+\-@\t\r]/.test(s) && typeof v === "string" ? `'${s}` : s;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** One row per group (or one `total` row without grouping), with the header row first; RFC 4180, CRLF line ends. */
export function usageCsv(v: UsageView): string {
  const rows: Array<Record<string, unknown>> =
    v.group_by !== null ? v.groups.map((g) => ({ ...g })) : [{ group: "total", name: null, ...v.total, cost_share: v.total.cost_micros > 0 ? 1 : null }];
  const lines = [USAGE_CSV_COLUMNS.join(",")];
  for (const r of rows) lines.push(USAGE_CSV_COLUMNS.map((c) => csvField(r[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
