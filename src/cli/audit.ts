/**
 * `switchyard audit verify`: walks the admin audit log's hash chain in the database and
 * reports the first edited, deleted or reordered record. Reads only: no migration, no
 * bootstrap, nothing written, so it is safe against a live database.
 */
import { loadConfig } from "../config/load.js";
import { verifyAuditChain } from "../governance/audit.js";
import { openConfiguredStore } from "../main.js";
import type { Register } from "./context.js";
import { CliFailure } from "./io.js";

export const registerAudit: Register = (program, ctx) => {
  const audit = program.command("audit").description("check the admin audit log");
  audit
    .command("verify")
    .description("check the audit log's hash chain: prints the record count and head hash, or the first broken record and why (exit 1)")
    .action(async () => {
      const { config } = await loadConfig(ctx.configPath(), ctx.io.env);
      const store = await openConfiguredStore(config);
      try {
        const verdict = await verifyAuditChain(store);
        if (!verdict.ok) {
          throw new CliFailure(`audit log broken at record ${verdict.seq}: ${verdict.reason} (${verdict.count} records before it verify)`);
        }
        ctx.io.out(`audit log ok: ${verdict.count} records, head hash ${verdict.headHash}\n`);
      } finally {
        await store.close();
      }
    });
};
