/**
 * `switchyard explain --account ID --model M [--session KEY]`: why a request would go
 * where it goes, from a running gateway's GET /admin/v1/explain (docs/cli.md#explain).
 * `--json` prints the answer as is; otherwise a short report: the rule and why it won,
 * the tiers with their targets and health, the attempt order, the session's key, the
 * limits.
 */
import { Option } from "commander";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import type { Register } from "./context.js";
import type { CliIo } from "./io.js";

interface ExplainOptions extends AdminOptions {
  account: string;
  model: string;
  session?: string;
  sessionSource?: string;
  protocol?: string;
}

/** The parts of the explain answer the report reads; anything else is left to --json. */
interface ExplainAnswer {
  account?: { id?: string; name?: string; chain?: Array<{ name?: string; status?: string }> };
  requested_model?: string;
  protocol?: string;
  mapping?: {
    served_model?: string;
    rule?: string | null;
    reason?: string;
    candidates?: Array<{ rule?: string; outcome?: string; why?: string }>;
  };
  policy?: { allowed?: boolean; account_active?: boolean; forbidden_by?: Array<{ name?: string }>; disabled_by?: Array<{ name?: string }> };
  served_anywhere?: boolean;
  tiers?: Array<{
    tier?: number;
    healthy?: boolean;
    held_down?: boolean;
    held_until?: string | null;
    serving?: boolean;
    targets?: Array<{ upstream?: string | null; model?: string; weight?: number; share?: number; upstreams?: string[]; note?: string | null }>;
  }>;
  upstreams?: Array<{ name?: string; keys?: Array<{ id?: string; name?: string; state?: string; in_flight?: number; cooling_until?: string | null }> }>;
  serving_tier?: number | null;
  hold_down_ms?: number | null;
  attempt_order?: Array<{ tier?: number; upstream?: string; model?: string; key_name?: string; key_id?: string }>;
  session?: { session?: string; pinned?: { tier?: number; upstream?: string; key_name?: string; key_id?: string; why?: string } | null } | null;
  limits?: Record<string, { value?: number; set_by?: string | null }> | null;
}

const percent = (share: number | undefined): string => (share === undefined ? "" : ` ${Math.round(share * 1000) / 10}%`);

/** The human-readable report. */
export function printExplain(io: CliIo, a: ExplainAnswer): void {
  const line = (text = ""): void => io.out(`${text}\n`);
  const chain = (a.account?.chain ?? []).map((c) => c.name).join(" < ");
  line(`account:  ${a.account?.name ?? "?"} (${a.account?.id ?? "?"})${chain ? `  chain: ${chain}` : ""}`);
  line(`model:    ${a.requested_model ?? "?"} (${a.protocol ?? "?"} client) -> serves ${a.mapping?.served_model ?? "?"}`);
  line(`rule:     ${a.mapping?.rule ?? "(none)"}`);
  if (a.mapping?.reason) line(`          ${a.mapping.reason}`);
  for (const c of a.mapping?.candidates ?? []) if (c.outcome !== "chosen") line(`          - ${c.rule} ${c.outcome}: ${c.why}`);
  const refusals = [
    ...(a.policy?.account_active === false ? [`account disabled by ${(a.policy.disabled_by ?? []).map((d) => d.name).join(", ")}`] : []),
    ...(a.policy?.allowed === false ? [`model not allowed by ${(a.policy.forbidden_by ?? []).map((d) => d.name).join(", ") || "the policy"}`] : []),
  ];
  line(`policy:   ${refusals.length === 0 ? "allowed" : refusals.join("; ")}`);
  if (a.served_anywhere === false) line("          no upstream the account may use serves this model");

  line();
  line(`tiers (serving now: ${a.serving_tier ?? "none"}${a.hold_down_ms === null || a.hold_down_ms === undefined ? "" : `, hold-down ${a.hold_down_ms} ms`}):`);
  for (const t of a.tiers ?? []) {
    const state = t.healthy ? (t.held_down ? `held down until ${t.held_until}` : "healthy") : "no healthy key";
    line(`  ${t.serving ? "*" : " "} tier ${t.tier}: ${state}`);
    for (const x of t.targets ?? []) {
      const where = x.upstream ?? "any upstream";
      const via = (x.upstreams ?? []).length > 0 ? ` via ${(x.upstreams ?? []).join(", ")}` : "";
      line(`      ${x.model} @ ${where}  weight ${x.weight}${percent(x.share)}${via}${x.note ? `  (${x.note})` : ""}`);
    }
  }

  line();
  line("keys:");
  for (const u of a.upstreams ?? []) {
    for (const k of u.keys ?? []) {
      const until = k.cooling_until ? ` until ${k.cooling_until}` : "";
      line(`  ${u.name} / ${k.name} (${k.id}): ${k.state}${until}, ${k.in_flight ?? 0} in flight`);
    }
  }

  line();
  line("attempt order:");
  for (const [i, at] of (a.attempt_order ?? []).entries()) line(`  ${i + 1}. tier ${at.tier}  ${at.upstream}  ${at.model}  key ${at.key_name} (${at.key_id})`);
  if ((a.attempt_order ?? []).length === 0) line("  (none)");

  if (a.session) {
    line();
    const p = a.session.pinned;
    line(`session ${a.session.session}: ${p ? `tier ${p.tier}, ${p.upstream} / key ${p.key_name} (${p.key_id})` : "no key"}`);
    if (p?.why) line(`  ${p.why}`);
  }

  line();
  const limits = a.limits;
  if (!limits || Object.keys(limits).length === 0) line("limits:   none");
  else
    line(
      `limits:   ${Object.entries(limits)
        .map(([field, b]) => `${field}=${b.value}${b.set_by ? ` (set by ${b.set_by})` : ""}`)
        .join(", ")}`,
    );
}

export const registerExplain: Register = (program, ctx) => {
  withAdminOptions(
    program
      .command("explain")
      .description("why a request from an account for a model would go where it goes: the rule, the tiers, the keys, the session's key, the limits")
      .requiredOption("--account <id-or-name>", "the account asking")
      .requiredOption("--model <name>", "the model it asks for")
      .option("--session <key>", "a session key: shows the tier and key that session would pin to")
      .addOption(
        new Option("--session-source <source>", "where the session key travels").choices([
          "session_id",
          "session-id",
          "conversation_id",
          "x-claude-code-session-id",
          "prompt_cache_key",
        ]),
      )
      .addOption(new Option("--protocol <protocol>", "the client's protocol").choices(["openai-chat", "openai-responses", "anthropic-messages"])),
  ).action(async (o: ExplainOptions) => {
    const query = new URLSearchParams({ account: o.account, model: o.model });
    if (o.session !== undefined) query.set("session", o.session);
    if (o.sessionSource !== undefined) query.set("session_source", o.sessionSource);
    if (o.protocol !== undefined) query.set("protocol", o.protocol);
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const answer = (await api.request("GET", `/explain?${query}`)) as ExplainAnswer;
    if (o.json) ctx.io.out(`${JSON.stringify(answer, null, 2)}\n`);
    else printExplain(ctx.io, answer);
  });
};
