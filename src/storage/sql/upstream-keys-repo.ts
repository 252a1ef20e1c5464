import { randomUUID } from "node:crypto";
import type { Selectable } from "kysely";
import { StoreError, type NewUpstreamKey, type UpstreamKey, type UpstreamKeyRepo, type UpstreamKeyStatus } from "../ports.js";
import { constraintViolation } from "./db-errors.js";
import { nowIso, oneOf } from "./row-codec.js";
import type { UpstreamKeysTable } from "./schema.js";
import type { SqlContext } from "./sql-context.js";

const UPSTREAM_KEY_STATUSES: readonly UpstreamKeyStatus[] = ["active", "disabled"];

function toUpstreamKey(row: Selectable<UpstreamKeysTable>): UpstreamKey {
  return {
    id: row.id,
    upstreamId: row.upstream_id,
    name: row.name,
    ciphertext: row.ciphertext,
    fingerprint: row.fingerprint,
    status: oneOf(row.status, UPSTREAM_KEY_STATUSES, "upstream_keys.status"),
    createdAt: row.created_at,
  };
}

export class SqlUpstreamKeyRepo implements UpstreamKeyRepo {
  constructor(private readonly ctx: SqlContext) {}

  async create(input: NewUpstreamKey): Promise<UpstreamKey> {
    const row: Selectable<UpstreamKeysTable> = {
      id: randomUUID(),
      upstream_id: input.upstreamId,
      name: input.name,
      ciphertext: input.ciphertext,
      fingerprint: input.fingerprint,
      status: "active",
      created_at: nowIso(),
    };
    try {
      await this.ctx.db.insertInto("upstream_keys").values(row).execute();
    } catch (error) {
      switch (constraintViolation(error)) {
        case "unique":
          throw new StoreError("conflict", `upstream ${input.upstreamId} already has a key with fingerprint ${input.fingerprint}`);
        case "foreign_key":
          throw new StoreError("not_found", `upstream ${input.upstreamId} does not exist`);
        default:
          throw error;
      }
    }
    return toUpstreamKey(row);
  }

  async get(id: string): Promise<UpstreamKey | undefined> {
    const row = await this.ctx.db.selectFrom("upstream_keys").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toUpstreamKey(row);
  }

  async listByUpstream(upstreamId: string): Promise<UpstreamKey[]> {
    const rows = await this.ctx.db.selectFrom("upstream_keys").selectAll().where("upstream_id", "=", upstreamId).orderBy("created_at").orderBy("id").execute();
    return rows.map(toUpstreamKey);
  }

  async listAll(): Promise<UpstreamKey[]> {
    const rows = await this.ctx.db.selectFrom("upstream_keys").selectAll().orderBy("upstream_id").orderBy("created_at").orderBy("id").execute();
    return rows.map(toUpstreamKey);
  }

  async page(after: string | undefined, limit: number): Promise<UpstreamKey[]> {
    let q = this.ctx.db.selectFrom("upstream_keys").selectAll();
    if (after !== undefined) q = q.where("id", ">", after);
    const rows = await q.orderBy("id").limit(limit).execute();
    return rows.map(toUpstreamKey);
  }

  async replaceCiphertext(id: string, expected: string, next: string): Promise<boolean> {
    const result = await this.ctx.db
      .updateTable("upstream_keys")
      .set({ ciphertext: next })
      .where("id", "=", id)
      .where("ciphertext", "=", expected)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async setStatus(id: string, status: UpstreamKeyStatus): Promise<boolean> {
    const result = await this.ctx.db.updateTable("upstream_keys").set({ status }).where("id", "=", id).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.ctx.db.deleteFrom("upstream_keys").where("id", "=", id).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
