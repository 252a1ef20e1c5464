/**
 * Re-wraps every upstream credential's data key under the current master key
 * (`switchyard keys rotate-master`; procedure in docs/deployment.md#rotating-the-master-key).
 *
 * Only the small wrapped data key changes; the credential's own ciphertext, its
 * fingerprint and the row's id stay, so a running gateway's catalog (which keeps a key
 * across reloads by id and fingerprint) carries on untouched. Gateways must hold both
 * the new and the old master key while this runs, so any reload or restart meanwhile
 * opens every envelope, whichever key wraps it at that moment.
 *
 * Batches of keys, each committed in its own short transaction, with a compare-and-set on
 * the old envelope: a key deleted or changed meanwhile is skipped, never overwritten.
 * Idempotent and resumable: envelopes already under the current key are left alone, so a
 * run stopped half-way is finished by running it again.
 */
import type { Repos } from "../storage/ports.js";
import type { SecretBox } from "./secrets.js";
import type { AuditChain, AuditOrigin } from "./audit.js";

export interface RotationReport {
  /** The master key everything is wrapped under now. */
  currentKeyId: string;
  examined: number;
  rewrapped: number;
  alreadyCurrent: number;
  /** Deleted or changed by someone else between the read and the write; the next run looks again. */
  changedMeanwhile: number;
  /** Envelopes no key of the ring opens: the run carries on and reports them. */
  unreadable: Array<{ upstreamKeyId: string; reason: string }>;
  batches: number;
}

export interface RotationOptions {
  /** Keys per transaction (default 100). */
  batchSize?: number;
  /** Called and awaited after each committed batch (progress output); throwing stops the run, which a re-run resumes. */
  onBatch?: (report: Readonly<RotationReport>) => void | Promise<void>;
  /** Where each re-wrap is recorded, in its batch's transaction (the CLI passes the audit chain, actor `cli`). */
  audit?: { sink: Pick<AuditChain, "record">; origin: AuditOrigin };
}

export async function rotateMasterKey(store: Pick<Repos, "upstreamKeys" | "transaction">, box: SecretBox, opts: RotationOptions = {}): Promise<RotationReport> {
  const batchSize = opts.batchSize ?? 100;
  const report: RotationReport = {
    currentKeyId: box.currentKeyId,
    examined: 0,
    rewrapped: 0,
    alreadyCurrent: 0,
    changedMeanwhile: 0,
    unreadable: [],
    batches: 0,
  };
  let after: string | undefined;
  for (;;) {
    const page = await store.upstreamKeys.page(after, batchSize);
    if (page.length === 0) break;
    after = page[page.length - 1]!.id;
    report.examined += page.length;
    // Crypto outside the transaction, so the write lock is held only for the updates.
    const changes: Array<{ id: string; from: string; to: string }> = [];
    for (const k of page) {
      try {
        const to = box.rewrap(k.ciphertext);
        if (to === undefined) report.alreadyCurrent++;
        else changes.push({ id: k.id, from: k.ciphertext, to });
      } catch (error) {
        report.unreadable.push({ upstreamKeyId: k.id, reason: (error as Error).message });
      }
    }
    if (changes.length > 0) {
      const replaced = await store.transaction(async (tx) => {
        let n = 0;
        for (const c of changes) {
          if (!(await tx.upstreamKeys.replaceCiphertext(c.id, c.from, c.to))) continue;
          n++;
          // Only key ids go on the record: the envelopes are secrets' wrappers, and never leave the table.
          const change = {
            action: "upstream_key.rewrap",
            target: { type: "upstream_key", id: c.id },
            before: { master_key_id: box.keyIdOf(c.from) ?? null },
            after: { master_key_id: box.currentKeyId },
          };
          if (opts.audit) await opts.audit.sink.record(tx, change, opts.audit.origin);
        }
        return n;
      });
      report.rewrapped += replaced;
      report.changedMeanwhile += changes.length - replaced;
    }
    report.batches++;
    await opts.onBatch?.(report);
  }
  return report;
}
