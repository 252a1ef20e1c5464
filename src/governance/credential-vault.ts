/**
 * Where a self-refreshing upstream credential (a ChatGPT login) lives between refreshes:
 * its sealed envelope in the store, opened and sealed with the process's secret box. It
 * implements the vault port of upstream/chatgpt-oauth.ts (structurally: governance does
 * not import upstream/), and main.ts hands it to the credentials.
 *
 * - `version` is the envelope text itself: rotating compares and sets it
 *   (`UpstreamKeyRepo.rotateCredential`), so a rotation is only ever written over the set
 *   it was made from.
 * - The lease is a row lease in the same table (`refresh_lease_owner/_until`), taken with
 *   one conditional UPDATE, so exactly one node of a cluster refreshes a credential at a
 *   time, on SQLite and PostgreSQL alike, with or without Redis. A node that dies holding
 *   it blocks refreshes of that one credential until the lease runs out.
 */
import { randomUUID } from "node:crypto";
import type { UpstreamKeyRepo } from "../storage/ports.js";

export interface VaultSecrets {
  seal(plaintext: string): string;
  open(envelope: string): string;
}

export interface StoredCredential {
  version: string;
  secret: string;
  dead: { reason: string; at: string } | null;
}

export class SealedCredentialVault {
  constructor(
    private readonly keys: Pick<UpstreamKeyRepo, "get" | "rotateCredential" | "markDead" | "acquireRefreshLease" | "releaseRefreshLease">,
    private readonly secrets: VaultSecrets,
    /** Wall-clock time for lease expiry (shared by every node, unlike a test's simulated clock). */
    private readonly now: () => number = Date.now,
  ) {}

  async load(keyId: string): Promise<StoredCredential | undefined> {
    const k = await this.keys.get(keyId);
    if (!k) return undefined;
    return {
      version: k.ciphertext,
      secret: this.secrets.open(k.ciphertext),
      dead: k.deadAt ? { reason: k.deadReason ?? "unknown", at: k.deadAt } : null,
    };
  }

  async rotate(keyId: string, expected: string, secret: string, meta: Record<string, unknown> | null): Promise<string | undefined> {
    const ciphertext = this.secrets.seal(secret);
    return (await this.keys.rotateCredential(keyId, expected, { ciphertext, meta })) ? ciphertext : undefined;
  }

  async markDead(keyId: string, reason: string): Promise<void> {
    await this.keys.markDead(keyId, reason, new Date(this.now()).toISOString());
  }

  async lease(keyId: string, ttlMs: number): Promise<{ release(): Promise<void> } | undefined> {
    const owner = randomUUID();
    const now = this.now();
    const got = await this.keys.acquireRefreshLease(keyId, owner, new Date(now + ttlMs).toISOString(), new Date(now).toISOString());
    if (!got) return undefined;
    return { release: () => this.keys.releaseRefreshLease(keyId, owner) };
  }
}
