/** `switchyard credits topup|grant`, over the admin API. Amounts are sent in integer micro-units. */
import { randomUUID } from "node:crypto";
import { Option } from "commander";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import { amountToMicros, isoTime, positiveWholeNumber } from "./args.js";
import type { Register } from "./context.js";
import { UsageError } from "./io.js";
import { printRecord } from "./output.js";

interface CreditOptions extends AdminOptions {
  amount?: number;
  amountMicros?: number;
  kind: string;
  expiresAt?: string;
  idempotencyKey?: string;
  note?: string;
}

export const registerCredits: Register = (program, ctx) => {
  const credits = program.command("credits").description("top up and grant credit");

  for (const [verb, description] of [
    ["topup", "add credit to an account from outside the tree (root admin only)"],
    ["grant", "move credit from an account's parent to the account"],
  ] as const) {
    withAdminOptions(
      credits
        .command(verb)
        .description(description)
        .argument("<account-id>", "the account that receives the credit")
        .option("--amount <amount>", "in currency units, e.g. 12.50 (at most 6 decimals)", amountToMicros)
        .option("--amount-micros <n>", "in integer micro-units (1 = 0.000001)", positiveWholeNumber)
        .addOption(new Option("--kind <kind>", "what the credit is").choices(["subscription", "payg", "addon"]).default("payg"))
        .option("--expires-at <time>", "when unspent credit expires (ISO-8601)", isoTime)
        .option("--idempotency-key <key>", "repeat a call with the same key to get the first result instead of a second grant (default: a new one, printed)")
        .option("--note <text>", "a note kept with the grant"),
    ).action(async (accountId: string, o: CreditOptions) => {
      if ((o.amount === undefined) === (o.amountMicros === undefined)) throw new UsageError("give exactly one of --amount and --amount-micros");
      const amountMicros = o.amount ?? o.amountMicros!;
      if (amountMicros <= 0) throw new UsageError("the amount must be more than 0");
      const body = {
        amount_micros: amountMicros,
        kind: o.kind,
        ...(o.expiresAt ? { expires_at: o.expiresAt } : {}),
        // Always sent, so an answer lost on the way can be retried with the printed key and never pays twice.
        idempotency_key: o.idempotencyKey ?? randomUUID(),
        ...(o.note ? { note: o.note } : {}),
      };
      const api = await adminClient(ctx.io, o, ctx.configPath());
      const answer = await api.request("POST", `/accounts/${encodeURIComponent(accountId)}/credits/${verb}`, body);
      if (!o.json) ctx.io.err(`idempotency key: ${body.idempotency_key} (repeat with --idempotency-key to retry safely)\n`);
      printRecord(ctx.io, o, answer, o.json ? undefined : verb === "topup" ? "credit topped up" : "credit granted");
    });
  }
};
