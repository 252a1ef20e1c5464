import { sql, type Kysely, type Migration } from "kysely";

/**
 * Tenant-owned upstreams (docs/admin-api.md#upstreams): `upstreams.owner_account_id`
 * names the account whose subtree the upstream serves; null keeps it gateway-wide.
 *
 * Names become unique per owner instead of gateway-wide: a tenant naming its pool
 * "openai" must neither be refused because another tenant (or the YAML file) already
 * has one (that refusal would tell it the other exists) nor squat a name the file
 * declares later. Two partial unique indexes say so on both engines (a plain
 * unique (owner, name) would let two gateway-wide upstreams share a name, since NULLs
 * never collide).
 *
 * SQLite cannot drop the old column-level UNIQUE on `name`, so both upstream tables are
 * rebuilt: their rows are stashed, the tables dropped (keys first, so no cascade fires)
 * and created anew, and the rows copied back, in one transaction. The same portable
 * steps run on PostgreSQL. Ciphertexts are copied byte for byte.
 */
export const upstreamOwner: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    // PostgreSQL migrations already run inside the migrator's transaction; SQLite's do not.
    if (db.isTransaction) await rebuild(db);
    else await db.transaction().execute(rebuild);
  },

  // Back to one namespace of names; the column stays (SQLite cannot drop a column with a
  // foreign key), unused by older code, and owned upstreams then read as gateway-wide.
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex("upstreams_owner_name_uq").execute();
    await db.schema.dropIndex("upstreams_global_name_uq").execute();
    await db.schema.createIndex("upstreams_name_uq").on("upstreams").column("name").unique().execute();
  },
};

const UPSTREAM_COLUMNS = "id, name, protocol, base_url, models, enabled, settings, created_at, updated_at";
const KEY_COLUMNS = "id, upstream_id, name, ciphertext, fingerprint, status, created_at";

async function rebuild(db: Kysely<unknown>): Promise<void> {
  await sql`create table upstreams_stash_0004 as select ${sql.raw(UPSTREAM_COLUMNS)} from upstreams`.execute(db);
  await sql`create table upstream_keys_stash_0004 as select ${sql.raw(KEY_COLUMNS)} from upstream_keys`.execute(db);
  await db.schema.dropTable("upstream_keys").execute();
  await db.schema.dropTable("upstreams").execute();

  await db.schema
    .createTable("upstreams")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("protocol", "text", (c) => c.notNull())
    .addColumn("base_url", "text", (c) => c.notNull())
    .addColumn("models", "text", (c) => c.notNull())
    .addColumn("enabled", "boolean", (c) => c.notNull())
    .addColumn("settings", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    // Deleting the owner deletes its upstreams and their keys: a tenant's credentials must
    // never outlive it as a gateway-wide pool.
    .addColumn("owner_account_id", "text", (c) => c.references("accounts.id").onDelete("cascade"))
    .execute();
  await db.schema.createIndex("upstreams_global_name_uq").on("upstreams").column("name").unique().where(sql.ref("owner_account_id"), "is", null).execute();
  // Also serves listing an owner's upstreams (leading column).
  await db.schema
    .createIndex("upstreams_owner_name_uq")
    .on("upstreams")
    .columns(["owner_account_id", "name"])
    .unique()
    .where(sql.ref("owner_account_id"), "is not", null)
    .execute();
  await sql`insert into upstreams (${sql.raw(UPSTREAM_COLUMNS)}) select ${sql.raw(UPSTREAM_COLUMNS)} from upstreams_stash_0004`.execute(db);

  await db.schema
    .createTable("upstream_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("upstream_id", "text", (c) => c.notNull().references("upstreams.id").onDelete("cascade"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("ciphertext", "text", (c) => c.notNull())
    .addColumn("fingerprint", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addUniqueConstraint("upstream_keys_fingerprint_uq", ["upstream_id", "fingerprint"])
    .execute();
  await sql`insert into upstream_keys (${sql.raw(KEY_COLUMNS)}) select ${sql.raw(KEY_COLUMNS)} from upstream_keys_stash_0004`.execute(db);

  await db.schema.dropTable("upstream_keys_stash_0004").execute();
  await db.schema.dropTable("upstreams_stash_0004").execute();
}
