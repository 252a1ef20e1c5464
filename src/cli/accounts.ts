/** `switchyard accounts create|list|move|suspend|resume`, over the admin API. */
import { Option } from "commander";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import { jsonObject, list, positiveWholeNumber } from "./args.js";
import type { Register } from "./context.js";
import { UsageError } from "./io.js";
import { printList, printRecord } from "./output.js";

const ACCOUNT_COLUMNS = ["id", "name", "status", "parent_id"] as const;

interface CreateOptions extends AdminOptions {
  parent?: string;
  models?: string[];
  modelMap?: string[];
  route?: Record<string, unknown>[];
  limits?: Record<string, unknown>;
  policy?: Record<string, unknown>;
  disabled?: boolean;
}

/** `--route` is repeatable: each one a structured route as JSON (docs/routing.md#structured-routes). */
const routes = (value: string, previous: Record<string, unknown>[] = []): Record<string, unknown>[] => [...previous, jsonObject(value)];

export const registerAccounts: Register = (program, ctx) => {
  const accounts = program.command("accounts").description("create, list, move, suspend and resume accounts");

  withAdminOptions(
    accounts
      .command("create")
      .description("create an account (a primary account, or a sub-account with --parent)")
      .argument("<name>", "the account's name")
      .option("--parent <id>", "create it under this account")
      .option("--models <patterns>", "comma-separated model names or patterns it may use (within the parent's)", list)
      .option("--model-map <rules>", "comma-separated mapping rules requested=served", list)
      .option("--route <json>", "a structured route with tiers, as JSON (repeatable; after the --model-map rules)", routes)
      .option("--limits <json>", 'its limits, a JSON object, e.g. \'{"rpm":600,"tpm":200000}\' (within the parent\'s)', jsonObject)
      .option(
        "--policy <json>",
        "any other policy fields, a JSON object (deny_models, spend_caps, ip_allow, origins, upstreams, price_multiplier, time_zone)",
        jsonObject,
      )
      .option("--disabled", "create it disabled"),
  ).action(async (name: string, o: CreateOptions) => {
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const body = {
      ...(o.policy ?? {}),
      name,
      ...(o.limits ? { limits: o.limits } : {}),
      ...(o.parent ? { parent_id: o.parent } : {}),
      ...(o.models ? { models: o.models } : {}),
      ...(o.modelMap || o.route ? { model_map: [...(o.modelMap ?? []), ...(o.route ?? [])] } : {}),
      ...(o.disabled ? { status: "disabled" } : {}),
    };
    printRecord(ctx.io, o, await api.request("POST", "/accounts", body), o.json ? undefined : "account created");
  });

  withAdminOptions(
    accounts
      .command("list")
      .description("list accounts: all of them, or the children, descendants or ancestors of one")
      .option("--children-of <id>", "the direct children of this account")
      .option("--descendants-of <id>", "every account below this one (paginated)")
      .option("--ancestors-of <id>", "the accounts above this one, nearest first")
      .option("--name <text>", "with --descendants-of: names containing this")
      .addOption(new Option("--status <status>", "with --descendants-of: only this status").choices(["active", "disabled", "suspended"]))
      .option("--depth <n>", "with --descendants-of: at most this many levels down", positiveWholeNumber)
      .option("--limit <n>", "with --descendants-of: at most this many", positiveWholeNumber)
      .option("--cursor <cursor>", "with --descendants-of: continue after a previous page"),
  ).action(
    async (
      o: AdminOptions & {
        childrenOf?: string;
        descendantsOf?: string;
        ancestorsOf?: string;
        name?: string;
        status?: string;
        depth?: number;
        limit?: number;
        cursor?: string;
      },
    ) => {
      const scopes = [o.childrenOf, o.descendantsOf, o.ancestorsOf].filter((s) => s !== undefined);
      if (scopes.length > 1) throw new UsageError("give at most one of --children-of, --descendants-of and --ancestors-of");
      const filters = o.name !== undefined || o.status !== undefined || o.depth !== undefined || o.limit !== undefined || o.cursor !== undefined;
      if (filters && o.descendantsOf === undefined) throw new UsageError("--name, --status, --depth, --limit and --cursor go with --descendants-of");
      let path = "/accounts";
      if (o.childrenOf !== undefined) path = `/accounts/${encodeURIComponent(o.childrenOf)}/children`;
      if (o.ancestorsOf !== undefined) path = `/accounts/${encodeURIComponent(o.ancestorsOf)}/ancestors`;
      if (o.descendantsOf !== undefined) {
        const q = new URLSearchParams();
        if (o.limit !== undefined) q.set("limit", String(o.limit));
        if (o.cursor !== undefined) q.set("cursor", o.cursor);
        if (o.name !== undefined) q.set("name", o.name);
        if (o.status !== undefined) q.set("status", o.status);
        if (o.depth !== undefined) q.set("depth", String(o.depth));
        path = `/accounts/${encodeURIComponent(o.descendantsOf)}/descendants${q.size > 0 ? `?${q.toString()}` : ""}`;
      }
      const api = await adminClient(ctx.io, o, ctx.configPath());
      printList(ctx.io, o, await api.request("GET", path), ACCOUNT_COLUMNS);
    },
  );

  withAdminOptions(
    accounts
      .command("move")
      .description("move an account, with its whole subtree, under another parent")
      .argument("<id>", "the account to move")
      .option("--parent <id>", "the new parent")
      .option("--root", "make it a primary account (no parent)"),
  ).action(async (id: string, o: AdminOptions & { parent?: string; root?: boolean }) => {
    if ((o.parent === undefined) === (o.root !== true)) throw new UsageError("give exactly one of --parent <id> and --root");
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const moved = await api.request("PATCH", `/accounts/${encodeURIComponent(id)}`, { parent_id: o.root ? null : o.parent });
    printRecord(ctx.io, o, moved, o.json ? undefined : "account moved");
  });

  for (const [verb, description] of [
    ["suspend", "suspend an account: it and its whole subtree stop being served at once"],
    ["resume", "resume a suspended account"],
  ] as const) {
    withAdminOptions(accounts.command(verb).description(description).argument("<id>", "the account")).action(async (id: string, o: AdminOptions) => {
      const api = await adminClient(ctx.io, o, ctx.configPath());
      const answer = await api.request("POST", `/accounts/${encodeURIComponent(id)}/${verb}`);
      printRecord(ctx.io, o, answer ?? { id, status: verb === "suspend" ? "suspended" : "active" }, o.json ? undefined : `account ${verb}d`);
    });
  }
};
