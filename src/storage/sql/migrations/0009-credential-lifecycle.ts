import type { Kysely, Migration } from "kysely";

/**
 * Credentials that refresh themselves (ChatGPT/Codex logins, docs/codex.md):
 * - `credential_meta`: what may be shown of a token set (account, plan, expiry, last
 *   refresh), JSON text rewritten with each rotation of the envelope;
 * - `dead_reason`, `dead_at`: a login whose refresh token was refused for good, remembered
 *   across restarts so routing keeps skipping it;
 * - `refresh_lease_owner`, `refresh_lease_until`: the lease one node takes to refresh a
 *   credential, so two nodes never present the same single-use refresh token.
 * All nullable, so existing rows need no backfill.
 */
const COLUMNS = ["credential_meta", "dead_reason", "dead_at", "refresh_lease_owner", "refresh_lease_until"] as const;

export const credentialLifecycle: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const column of COLUMNS) await db.schema.alterTable("upstream_keys").addColumn(column, "text").execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of [...COLUMNS].reverse()) await db.schema.alterTable("upstream_keys").dropColumn(column).execute();
  },
};
