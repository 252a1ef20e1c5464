import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import { StoreError, type ApiKey, type ApiKeyRepo, type ApiKeyStatus, type NewApiKey } from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { nowIso, oneOf } from "./row-codec.js";
import type { ApiKeysTable } from "./schema.js";
import type { SqlContext } from "./sql-context.js";

const API_KEY_STATUSES: readonly ApiKeyStatus[] = ["active", "revoked"];

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    accountId: row.account_id,
    name: row.name,
    prefix: row.prefix,
    hash: row.hash,
    status: oneOf(row.status, API_KEY_STATUSES, "api_keys.status"),
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
  };
}

export class SqlApiKeyRepo implements ApiKeyRepo {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: NewApiKey): Promise<ApiKey> {
    const row: Selectable<ApiKeysTable> = {
      id: randomUUID(),
      account_id: input.accountId,
      name: input.name,
      prefix: input.prefix,
      hash: input.hash,
      status: "active",
      created_at: nowIso(),
      last_used_at: null,
    };
    try {
      await this.ctx.db.insertInto("api_keys").values(row).execute();
    } catch (error) {
      switch (constraintViolation(error)) {
        case "unique":
          throw new StoreError("conflict", `an API key with prefix ${JSON.stringify(input.prefix)} already exists`);
        case "foreign_key":
          throw new StoreError("not_found", `account ${input.accountId} does not exist`);
        default:
          throw error;
      }
    }
    return toApiKey(row);
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
