import type { Kysely, Migration } from "kysely";

/**
 * API keys gain scopes, an expiry, per-key model narrowing and limits, and the link a
 * rotation leaves from the old key to its replacement. Existing keys keep working as
 * they did: inference only, never expiring, nothing narrowed.
 *
 * Rotation stores the new secret as a new row (its own prefix and hash, so the data
 * plane's prefix lookup finds either secret) and gives the old row `replaced_by` and an
 * `expires_at` at the grace end: both secrets work until then, with nothing to clean up
 * afterwards beyond an expired row, which authenticates nobody.
 */
export const apiKeyScopes: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // JSON text like the other documents; a NOT NULL column added to existing rows needs its default.
    await db.schema
      .alterTable("api_keys")
      .addColumn("scopes", "text", (c) => c.notNull().defaultTo('["inference"]'))
      .execute();
    await db.schema.alterTable("api_keys").addColumn("expires_at", "text").execute();
    await db.schema.alterTable("api_keys").addColumn("models", "text").execute();
    await db.schema.alterTable("api_keys").addColumn("limits", "text").execute();
    await db.schema.alterTable("api_keys").addColumn("replaced_by", "text").execute();
  },

  async down(db: Kysely<unknown>): Promise<void> {
    for (const column of ["replaced_by", "limits", "models", "expires_at", "scopes"]) {
      await db.schema.alterTable("api_keys").dropColumn(column).execute();
    }
  },
};
