import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import type { Kysely } from "kysely";
import { StoreError, type ApiKey, type ApiKeyRepo, type ApiKeyScope, type ApiKeyStatus, type KeyLimits, type NewApiKey } from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { nowIso, oneOf, parseJsonObject, parseStringArray, toJsonText } from "./row-codec.js";
import type { ApiKeysTable, Database } from "./schema.js";
import { writeTransaction, type SqlContext } from "./sql-context.js";

const API_KEY_STATUSES: readonly ApiKeyStatus[] = ["active", "revoked"];
const API_KEY_SCOPES: readonly ApiKeyScope[] = ["inference", "manage"];

function toScopes(text: string): ApiKeyScope[] {
  return parseStringArray(text, "api_keys.scopes").map((s) => oneOf(s, API_KEY_SCOPES, "api_keys.scopes"));
}

function toLimits(text: string): KeyLimits {
  const doc = parseJsonObject(text, "api_keys.limits");
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== "number") throw new Error(`api_keys.limits.${k} is not a number`);
  }
  return doc as KeyLimits;
}

function toRow(id: string, input: NewApiKey): Selectable<ApiKeysTable> {
  return {
    id,
    account_id: input.accountId,
    name: input.name,
    prefix: input.prefix,
    hash: input.hash,
    status: "active",
    created_at: nowIso(),
    last_used_at: null,
    scopes: toJsonText(input.scopes ?? ["inference"]),
    expires_at: input.expiresAt ?? null,
    models: input.models ? toJsonText(input.models) : null,
    limits: input.limits ? toJsonText(input.limits) : null,
    replaced_by: null,
  };
}

async function insertKey(db: Kysely<Database>, row: Selectable<ApiKeysTable>): Promise<void> {
  try {
    await db.insertInto("api_keys").values(row).execute();
  } catch (error) {
    switch (constraintViolation(error)) {
      case "unique":
        throw new StoreError("conflict", `an API key with prefix ${JSON.stringify(row.prefix)} already exists`);
      case "foreign_key":
        throw new StoreError("not_found", `account ${row.account_id} does not exist`);
      default:
        throw error;
    }
  }
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    status: oneOf(row.status, API_KEY_STATUSES, "api_keys.status"),
    scopes: toScopes(row.scopes),
    expiresAt: row.expires_at,
    models: row.models === null ? null : parseStringArray(row.models, "api_keys.models"),
    limits: row.limits === null ? null : toLimits(row.limits),
    replacedBy: row.replaced_by,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export class SqlApiKeyRepo implements ApiKeyRepo {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: NewApiKey): Promise<ApiKey> {
    const row = toRow(randomUUID(), input);
    await insertKey(this.ctx.db, row);
    return toApiKey(row);
  }

  async rotate(id: string, replacement: NewApiKey, oldExpiresAt: string): Promise<{ old: ApiKey; replacement: ApiKey }> {
    const row = toRow(randomUUID(), replacement);
    return writeTransaction(this.ctx, async (trx) => {
      // The guard in the UPDATE, not a read before it, decides which of two racing rotations wins.
      const old = await trx
        .updateTable("api_keys")
        .set({ replaced_by: row.id, expires_at: oldExpiresAt })
        .where("id", "=", id)
        .where("status", "=", "active")
        .where("replaced_by", "is", null)
        .returningAll()
        .executeTakeFirst();
      if (!old) throw new StoreError("conflict", `API key ${id} is not an active key that has not been rotated`);
      await insertKey(trx, row);
      return { old: toApiKey(old), replacement: toApiKey(row) };
    });
  }

  async get(id: string): Promise<ApiKey | undefined> {
    const row = await this.ctx.db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toApiKey(row);
  }

  async getByPrefix(prefix: string): Promise<ApiKey | undefined> {
    const row = await this.ctx.db.selectFrom("api_keys").selectAll().where("prefix", "=", prefix).executeTakeFirst();
    return row && toApiKey(row);
  }

  async listByAccount(accountId: string): Promise<ApiKey[]> {
    const rows = await this.ctx.db.selectFrom("api_keys").selectAll().where("account_id", "=", accountId).orderBy("created_at").orderBy("id").execute();
    return rows.map(toApiKey);
  }

  async listActive(): Promise<ApiKey[]> {
    const rows = await this.ctx.db.selectFrom("api_keys").selectAll().where("status", "=", "active").orderBy("created_at").orderBy("id").execute();
    return rows.map(toApiKey);
  }

  /** True when the key exists (revoking twice is not an error). */
  async revoke(id: string): Promise<boolean> {
    const result = await this.ctx.db.updateTable("api_keys").set({ status: "revoked" }).where("id", "=", id).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async touch(id: string, at: string): Promise<void> {
    // Touches come batched from several nodes and may arrive out of order: only move forward.
    await this.ctx.db
      .updateTable("api_keys")
      .set({ last_used_at: at })
      .where("id", "=", id)
      .where((eb) => eb.or([eb("last_used_at", "is", null), eb("last_used_at", "<", at)]))
      .execute();
  }
}
