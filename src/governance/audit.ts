/**
 * The hash-chained audit trail: the sink every admin change (API, CLI, YAML bootstrap)
 * records through, and the check that the chain is intact.
 *
 * Each record's hash is SHA-256 over a canonical serialisation of its fields, its seq
 * and the previous record's hash, so editing a record changes its hash, deleting one
 * leaves a gap in seq, and moving one breaks the link to its predecessor. Deleting the
 * newest records leaves a shorter chain that is still valid: keep the head hash that
 * `switchyard audit verify` prints somewhere else to catch that.
 *
 * Types here are structural so config/ (the bootstrap) can record without importing admin/.
 */
import { createHash } from "node:crypto";
import { AUDIT_GENESIS_HASH, type AuditRecord, type Repos } from "../storage/ports.js";
import { withMembers } from "../canonical/shared-shape.js";

/** An admin change (admin/service.ts `AuditEvent` fits). */
export interface AuditedChange {
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
}

/** Who made it and from where (admin/context.ts `AdminContext` fits). */
export interface AuditOrigin {
  readonly actor: { readonly type: string; readonly keyId?: string };
  readonly requestId?: string;
  readonly clientIp?: string;
}

/** How the actor is written: `root`, `config`, `cli` or `api_key:<id>`. */
export function auditActor(actor: AuditOrigin["actor"]): string {
  return actor.type === "api_key" && actor.keyId !== undefined ? `api_key:${actor.keyId}` : actor.type;
}

/** JSON with object keys sorted at every depth, so equal documents hash equally. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
  return out;
}

/** The record's hash: SHA-256 (hex) over a JSON array of every field but the hash, in a fixed order. */
export function auditHash(r: Omit<AuditRecord, "hash">): string {
  const fields = [r.seq, r.prevHash, r.actor, r.action, r.targetType, r.targetId, r.before, r.after, r.ip, r.requestId, r.createdAt];
  return createHash("sha256").update(JSON.stringify(fields)).digest("hex");
}

/**
 * Appends each change to the chain inside the change's own transaction, so the two
 * commit together. Records carry the accounts whose subtree views show them: the
 * target's account (an API key's account; the account itself, and before a move or
 * delete, its parent) with its ancestors at the time.
 */
export class AuditChain {
  constructor(private readonly now: () => string = () => new Date().toISOString()) {}

  async record(tx: Repos, change: AuditedChange, origin: AuditOrigin): Promise<void> {
    const scope = await scopeOf(tx, change);
    const record = {
      actor: auditActor(origin.actor),
      action: change.action,
      targetType: change.target.type,
      targetId: change.target.id,
      before: change.before === null ? null : canonicalJson(change.before),
      after: change.after === null ? null : canonicalJson(change.after),
      ip: origin.clientIp ?? null,
      requestId: origin.requestId ?? null,
      createdAt: this.now(),
    };
    await tx.audit.append(record, scope, (seq, prevHash) => auditHash(withMembers(record, { seq, prevHash })));
  }
}

async function scopeOf(tx: Repos, change: AuditedChange): Promise<string[]> {
  const owners = new Set<string>();
  const views = [change.before, change.after].filter((v): v is Record<string, unknown> => v !== null);
  if (change.target.type === "account") {
    owners.add(change.target.id);
    for (const v of views) if (typeof v.parent_id === "string") owners.add(v.parent_id);
  } else {
    // An API key names its account; an upstream its owner, once upstreams have owners.
    const field = change.target.type === "api_key" ? "account_id" : "owner_account_id";
    for (const v of views) if (typeof v[field] === "string") owners.add(v[field]);
  }
  const scope = new Set<string>();
  for (const id of owners) {
    scope.add(id);
    for (const a of await tx.accounts.ancestors(id)) scope.add(a.id);
  }
  return [...scope];
}

export type AuditVerdict =
  | { readonly ok: true; readonly count: number; readonly headHash: string }
  /** `seq` is the first record that does not hold; `count` records before it did. */
  | { readonly ok: false; readonly count: number; readonly seq: number; readonly reason: string };

/** Walks the whole chain in order and reports the first broken link. */
export async function verifyAuditChain(repos: Pick<Repos, "audit">, batch = 1000): Promise<AuditVerdict> {
  let expected = 1;
  let prevHash = AUDIT_GENESIS_HASH;
  for (;;) {
    const rows = await repos.audit.scan(expected - 1, batch);
    for (const r of rows) {
      const count = expected - 1;
      if (r.seq !== expected) return { ok: false, count, seq: expected, reason: `record ${expected} is missing (the next one is ${r.seq}): deleted` };
      if (r.prevHash !== prevHash) {
        return { ok: false, count, seq: r.seq, reason: `its prev_hash is not the hash of record ${r.seq - 1}: records were reordered or replaced` };
      }
      if (auditHash(r) !== r.hash) return { ok: false, count, seq: r.seq, reason: "its hash does not match its contents: the record was edited" };
      prevHash = r.hash;
      expected += 1;
    }
    if (rows.length < batch) return { ok: true, count: expected - 1, headHash: prevHash };
  }
}
