/**
 * `switchyard keys create|rotate|revoke` (gateway API keys, over the admin API) and
 * `switchyard keys rotate-master` (upstream credentials' master key, offline against the
 * database and the keyring).
 */
import { Option } from "commander";
import { resolve } from "node:path";
import { loadConfig } from "../config/load.js";
import { AuditChain } from "../governance/audit.js";
import { rotateMasterKey } from "../governance/master-rotation.js";
import { loadKeyring } from "../governance/secrets.js";
import { openConfiguredStore } from "../main.js";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import { isoTime, jsonObject, list, positiveWholeNumber, wholeNumber } from "./args.js";
import type { Register } from "./context.js";
import { CliFailure, UsageError } from "./io.js";
import { printRecord } from "./output.js";

export const registerKeys: Register = (program, ctx) => {
  const keys = program.command("keys").description("issue, rotate and revoke API keys; rotate the master key of upstream credentials");

  withAdminOptions(
    keys
      .command("create")
      .description("issue an API key for an account; its secret is shown once")
      .argument("<account-id>", "the account the key belongs to")
      .option("--name <name>", "a name for the key")
      .addOption(new Option("--scopes <scopes>", "comma-separated: inference (data plane), manage (admin API)").argParser(list))
      .option("--expires-at <time>", "when it stops working (ISO-8601)", isoTime)
      .option("--models <patterns>", "comma-separated models the key narrows its account to", list)
      .option("--limits <json>", "the key's own limits, a JSON object", jsonObject),
  ).action(
    async (
      accountId: string,
      o: AdminOptions & { name?: string; scopes?: string[]; expiresAt?: string; models?: string[]; limits?: Record<string, unknown> },
    ) => {
      for (const s of o.scopes ?? []) {
        if (s !== "inference" && s !== "manage") throw new UsageError(`--scopes: '${s}' is not a scope; use inference, manage or both`);
      }
      const body = {
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.scopes ? { scopes: o.scopes } : {}),
        ...(o.expiresAt ? { expires_at: o.expiresAt } : {}),
        ...(o.models ? { models: o.models } : {}),
        ...(o.limits ? { limits: o.limits } : {}),
      };
      const api = await adminClient(ctx.io, o, ctx.configPath());
      const created = await api.request("POST", `/accounts/${encodeURIComponent(accountId)}/keys`, body);
      printRecord(ctx.io, o, created, o.json ? undefined : "API key created; the key below is shown only this once");
    },
  );

  withAdminOptions(
    keys
      .command("rotate")
      .description("issue a new secret for a key; the old one keeps working for the grace period")
      .argument("<key-id>", "the key to rotate")
      .option("--grace-seconds <n>", "how long the old secret stays valid", wholeNumber),
  ).action(async (keyId: string, o: AdminOptions & { graceSeconds?: number }) => {
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const body = o.graceSeconds === undefined ? {} : { grace_seconds: o.graceSeconds };
    const rotated = await api.request("POST", `/keys/${encodeURIComponent(keyId)}/rotate`, body);
    printRecord(ctx.io, o, rotated, o.json ? undefined : "API key rotated; the new key below is shown only this once");
  });

  withAdminOptions(keys.command("revoke").description("revoke a key: it stops working at once").argument("<key-id>", "the key to revoke")).action(
    async (keyId: string, o: AdminOptions) => {
      const api = await adminClient(ctx.io, o, ctx.configPath());
      await api.request("DELETE", `/keys/${encodeURIComponent(keyId)}`);
      printRecord(ctx.io, o, { id: keyId, status: "revoked" }, o.json ? undefined : "API key revoked");
    },
  );

  keys
    .command("rotate-master")
    .description(
      "re-wrap every upstream credential under the current master key (SWITCHYARD_MASTER_KEY or <data_dir>/master.key), " +
        "opening the old ones with SWITCHYARD_MASTER_KEY_PREVIOUS or <data_dir>/master.key.previous; " +
        "runs against the database while gateways keep serving (docs/deployment.md#rotating-the-master-key)",
    )
    .option("--batch-size <n>", "keys per transaction", positiveWholeNumber, 100)
    .option("--json", "print the report as JSON")
    .action(async (o: { batchSize: number; json?: boolean }) => {
      const { io } = ctx;
      const { config } = await loadConfig(ctx.configPath(), io.env);
      // Never creates a key: rotating to a key nobody else holds would strand every gateway.
      const keyring = await loadKeyring(resolve(config.data_dir), io.env, false);
      const store = await openConfiguredStore(config);
      try {
        const audit = { sink: new AuditChain(), origin: { actor: { type: "cli" } } };
        let report = await rotateMasterKey(store, keyring.box, {
          batchSize: o.batchSize,
          audit,
          onBatch: (r) => {
            if (!o.json) io.err(`  ${r.examined} keys examined, ${r.rewrapped} re-wrapped\n`);
          },
        });
        // Keys changed by someone else mid-run were skipped, not overwritten: one more pass picks them up.
        if (report.changedMeanwhile > 0) report = await rotateMasterKey(store, keyring.box, { batchSize: o.batchSize, audit });
        if (o.json) {
          io.out(`${JSON.stringify(report, null, 2)}\n`);
        } else {
          io.out(
            `master key ${report.currentKeyId}: ${report.examined} upstream keys, ${report.rewrapped} re-wrapped now, ${report.alreadyCurrent} already under it` +
              (report.unreadable.length > 0 ? `, ${report.unreadable.length} unreadable` : "") +
              "\n",
          );
          for (const u of report.unreadable) io.out(`  unreadable: upstream key ${u.upstreamKeyId}: ${u.reason}\n`);
        }
        if (report.unreadable.length > 0) {
          throw new CliFailure(
            `${report.unreadable.length} upstream keys could not be opened with this keyring; add their master key to SWITCHYARD_MASTER_KEY_PREVIOUS and run again`,
          );
        }
      } finally {
        await store.close();
      }
    });
};
