import { Migrator, type Kysely, type Migration, type MigrationProvider } from "kysely";
import type { Database } from "../schema.js";
import { controlPlane } from "./0001-control-plane.js";
import { apiKeyScopes } from "./0002-api-key-scopes.js";
import { ledgerBalances } from "./0003-ledger-balances.js";
import { upstreamOwner } from "./0004-upstream-owner.js";
import { closureStatistics } from "./0005-closure-statistics.js";
import { usageAttempts } from "./0006-usage-attempts.js";
import { usageBilling } from "./0007-usage-billing.js";
import { usageHourly } from "./0008-usage-hourly.js";
import { credentialLifecycle } from "./0009-credential-lifecycle.js";
import { usageCreatedIndex } from "./0010-usage-created-index.js";
import { usageRequestKey } from "./0011-usage-request-key.js";

/**
 * Every migration, in order. A static object rather than a folder scan so it works
 * unchanged from `src/` under vitest and from `dist/` in production. Names sort
 * lexicographically (Kysely's order): keep the zero-padded prefix.
 */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  "0001_control_plane": controlPlane,
  "0002_api_key_scopes": apiKeyScopes,
  "0003_ledger_balances": ledgerBalances,
  "0004_upstream_owner": upstreamOwner,
  "0005_closure_statistics": closureStatistics,
  "0006_usage_attempts": usageAttempts,
  "0007_usage_billing": usageBilling,
  "0008_usage_hourly": usageHourly,
  "0009_credential_lifecycle": credentialLifecycle,
  "0010_usage_created_index": usageCreatedIndex,
  "0011_usage_request_key": usageRequestKey,
});

export const migrationNames: readonly string[] = Object.keys(migrations).sort();

const provider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...migrations }),
};

export interface MigrateOptions {
  /**
   * Schema holding Kysely's bookkeeping tables (PostgreSQL only). Must be set there:
   * Kysely decides whether its tables exist by looking across all schemas, so a
   * migrated database in another schema would otherwise be mistaken for this one.
   */
  migrationTableSchema?: string;
}

/** Applies pending migrations; returns the names applied by this call. */
export async function migrateToLatest(db: Kysely<Database>, options: MigrateOptions = {}): Promise<string[]> {
  const migrator = new Migrator({
    db,
    provider,
    ...(options.migrationTableSchema === undefined ? {} : { migrationTableSchema: options.migrationTableSchema }),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName;
    throw new Error(`migration ${failed ?? "(setup)"} failed: ${describe(error)}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
