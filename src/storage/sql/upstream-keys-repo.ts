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
    credentialMeta: row.credential_meta === null ? null : (JSON.parse(row.credential_meta) as Record<string, unknown>),
    deadReason: row.dead_reason,
    deadAt: row.dead_at,
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
      credential_meta: input.credentialMeta ? JSON.stringify(input.credentialMeta) : null,
      dead_reason: null,
      dead_at: null,
      refresh_lease_owner: null,
      refresh_lease_until: null,
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

  async rotateCredential(id: string, expected: string, next: { ciphertext: string; meta: Record<string, unknown> | null }): Promise<boolean> {
    const result = await this.ctx.db
      .updateTable("upstream_keys")
      .set({ ciphertext: next.ciphertext, credential_meta: next.meta === null ? null : JSON.stringify(next.meta) })
      .where("id", "=", id)
      .where("ciphertext", "=", expected)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async markDead(id: string, reason: string, at: string): Promise<boolean> {
    const result = await this.ctx.db.updateTable("upstream_keys").set({ dead_reason: reason, dead_at: at }).where("id", "=", id).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async acquireRefreshLease(id: string, owner: string, until: string, now: string): Promise<boolean> {
    // One conditional UPDATE: atomic on both engines, so two nodes never both win.
    const result = await this.ctx.db
      .updateTable("upstream_keys")
      .set({ refresh_lease_owner: owner, refresh_lease_until: until })
      .where("id", "=", id)
      .where((eb) => eb.or([eb("refresh_lease_until", "is", null), eb("refresh_lease_until", "<=", now)]))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async releaseRefreshLease(id: string, owner: string): Promise<void> {
    await this.ctx.db
      .updateTable("upstream_keys")
      .set({ refresh_lease_owner: null, refresh_lease_until: null })
      .where("id", "=", id)
      .where("refresh_lease_owner", "=", owner)
      .execute();
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
