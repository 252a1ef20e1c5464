/**
 * `switchyard usage ACCOUNT_ID [--group-by G] [--scope S] [--from T] [--to T] [--csv]`: an
 * account's usage from a running gateway's GET /admin/v1/accounts/{id}/usage
 * (docs/cli.md#usage). A table by default; `--csv` the same CSV the API exports; `--json`
 * the answer as is.
 */
import { Option } from "commander";
import { usageCsv, type UsageView } from "../admin/usage-reads.js";
import { USAGE_GROUP_BY } from "../storage/ports.js";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import { isoTime } from "./args.js";
import type { Register } from "./context.js";
import { printList } from "./output.js";

interface UsageOptions extends AdminOptions {
  groupBy?: string;
  scope: string;
  from?: string;
  to?: string;
  csv?: boolean;
}

const COLUMNS = [
  "group",
  "name",
  "requests",
  "input_tokens",
  "cached_input_tokens",
  "output_tokens",
  "cost_micros",
  "charged_micros",
  "cache_hit",
  "cost_share",
];

function percent(share: number | null): string | null {
  return share === null ? null : `${(share * 100).toFixed(1)}%`;
}

export const registerUsage: Register = (program, ctx) => {
  withAdminOptions(
    program
      .command("usage")
      .description("an account's usage (tokens, cost, cache-hit share), optionally grouped")
      .argument("<account-id>", "the account")
      .addOption(new Option("--group-by <g>", "group by").choices([...USAGE_GROUP_BY]))
      .addOption(new Option("--scope <s>", "self: the account's own requests; subtree: with its descendants'").choices(["self", "subtree"]).default("subtree"))
      .option("--from <time>", "start of the window (ISO-8601; default 30 days before --to)", isoTime)
      .option("--to <time>", "end of the window (ISO-8601; default now)", isoTime)
      .option("--csv", "print CSV with a header row (the API's export)"),
  ).action(async (accountId: string, o: UsageOptions) => {
    const query = new URLSearchParams({ scope: o.scope });
    if (o.groupBy) query.set("group_by", o.groupBy);
    if (o.from) query.set("from", o.from);
    if (o.to) query.set("to", o.to);
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const answer = (await api.request("GET", `/accounts/${encodeURIComponent(accountId)}/usage?${query.toString()}`)) as UsageView;
    if (o.csv) {
      ctx.io.out(usageCsv(answer));
      return;
    }
    const rows = answer.group_by === null ? [{ group: "total", name: null, ...answer.total, cost_share: null }] : answer.groups;
    const data = rows.map((r) => ({ ...r, cache_hit: percent(r.cache_hit_share), cost_share: percent(r.cost_share) }));
    if (o.json) {
      printList(ctx.io, o, answer, COLUMNS);
      return;
    }
    ctx.io.out(`${answer.account?.name ?? accountId} (${answer.scope}), ${answer.from} to ${answer.to}\n`);
    printList(ctx.io, o, { data }, COLUMNS);
  });
};
