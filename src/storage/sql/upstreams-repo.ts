import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import { StoreError, type NewUpstream, type Upstream, type UpstreamPatch, type UpstreamProtocol, type UpstreamRepo } from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { fromBit, nowIso, oneOf, parseJsonObject, parseStringArray, toBit, toJsonText } from "./row-codec.js";
import type { UpstreamsTable } from "./schema.js";
import { writeTransaction, type SqlContext } from "./sql-context.js";

const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ["openai-responses", "openai-chat", "anthropic", "codex"];

function toUpstream(row: Selectable<UpstreamsTable>): Upstream {
  return {
    id: row.id,
    name: row.name,
    ownerAccountId: row.owner_account_id,
    protocol: oneOf(row.protocol, UPSTREAM_PROTOCOLS, "upstreams.protocol"),
    baseUrl: row.base_url,
    models: parseStringArray(row.models, "upstreams.models"),
    enabled: fromBit(row.enabled),
    settings: parseJsonObject(row.settings, "upstreams.settings"),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class SqlUpstreamRepo implements UpstreamRepo {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: NewUpstream): Promise<Upstream> {
    const now = nowIso();
    const values = {
      id: randomUUID(),
      name: input.name,
      protocol: input.protocol,
      base_url: input.baseUrl,
      models: toJsonText(input.models),
      enabled: toBit(input.enabled ?? true),
      settings: toJsonText(input.settings ?? {}),
      created_at: now,
      updated_at: now,
      owner_account_id: input.ownerAccountId ?? null,
    };
    try {
      await this.ctx.db.insertInto("upstreams").values(values).execute();
    } catch (error) {
      switch (constraintViolation(error)) {
        case "unique":
          throw new StoreError("conflict", `an upstream named ${JSON.stringify(input.name)} already exists${values.owner_account_id ? " for this owner" : ""}`);
        case "foreign_key":
          throw new StoreError("not_found", `account ${values.owner_account_id} does not exist`);
        default:
          throw error;
      }
    }
    return toUpstream(values);
  }

  async get(id: string): Promise<Upstream | undefined> {
    const row = await this.ctx.db.selectFrom("upstreams").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toUpstream(row);
  }

  async getByName(name: string, ownerAccountId: string | null = null): Promise<Upstream | undefined> {
    const row = await this.ctx.db
      .selectFrom("upstreams")
      .selectAll()
      .where("name", "=", name)
      .where("owner_account_id", ownerAccountId === null ? "is" : "=", ownerAccountId)
      .executeTakeFirst();
    return row && toUpstream(row);
  }

  async list(): Promise<Upstream[]> {
    const rows = await this.ctx.db.selectFrom("upstreams").selectAll().orderBy("name").execute();
    return rows.map(toUpstream);
  }

  async update(id: string, patch: UpstreamPatch): Promise<Upstream | undefined> {
    const row = await this.ctx.db
      .updateTable("upstreams")
      .set({
        ...(patch.protocol === undefined ? {} : { protocol: patch.protocol }),
        ...(patch.baseUrl === undefined ? {} : { base_url: patch.baseUrl }),
        ...(patch.models === undefined ? {} : { models: toJsonText(patch.models) }),
        ...(patch.enabled === undefined ? {} : { enabled: toBit(patch.enabled) }),
        ...(patch.settings === undefined ? {} : { settings: toJsonText(patch.settings) }),
        updated_at: nowIso(),
      })
      .where("id", "=", id)
      .returningAll()
      .executeTakeFirst();
    return row && toUpstream(row);
  }

  async delete(id: string): Promise<boolean> {
    return writeTransaction(this.ctx, async (trx) => {
      // The foreign key cascades too; deleting explicitly keeps the result independent
      // of whether the connection enforces foreign keys.
      await trx.deleteFrom("upstream_keys").where("upstream_id", "=", id).execute();
      const result = await trx.deleteFrom("upstreams").where("id", "=", id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }
}
