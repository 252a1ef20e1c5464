#!/usr/bin/env node
/**
 * `switchyard serve` starts the gateway; `switchyard migrate` applies database
 * migrations and exits. Both read the same config (--config, SWITCHYARD_CONFIG,
 * ./switchyard.yaml, or the embedded defaults).
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { SecretSetupError } from "./governance/secrets.js";
import { openConfiguredStore, startGateway } from "./main.js";
import { verifyAuditChain } from "./governance/audit.js";

const USAGE = `Usage: switchyard <command> [--config FILE]

Commands:
  serve     start the gateway (default)
  migrate   apply database migrations and exit
  audit verify
            check the audit log's hash chain: prints ok with the record count and the
            head hash, or the first broken record and why (exit 1)

Options:
  -c, --config FILE   config file (default: $SWITCHYARD_CONFIG, then ./switchyard.yaml, then embedded defaults)
  -h, --help          show this help
`;

/** A mistake in how the command was called: one line, the usage, exit 2. */
class UsageError extends Error {}

function parseCommandLine(argv: string[]): { config: string | undefined; help: boolean; command: string; rest: string[] } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  // `npm start --config x.yaml` hands --config to npm, which passes it on only as npm_config_config:
  // starting on the defaults instead would ignore the file the operator named.
  const npmTookConfig = process.env.npm_config_config;
  if (parsed.values.config === undefined && npmTookConfig && process.env.npm_lifecycle_event) {
    throw new UsageError(`npm took --config ${npmTookConfig} for itself; pass it through with: npm start -- --config ${npmTookConfig}`);
  }
  return { config: parsed.values.config, help: parsed.values.help ?? false, command: parsed.positionals[0] ?? "serve", rest: parsed.positionals.slice(1) };
}

async function main(argv: string[]): Promise<number> {
  const { config: configPath, help, command, rest } = parseCommandLine(argv);
  if (help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command !== "serve" && command !== "migrate" && command !== "audit") throw new UsageError(`unknown command '${command}'`);
  if (command === "audit" && (rest[0] !== "verify" || rest.length > 1)) {
    throw new UsageError(rest[0] === undefined ? "audit needs a subcommand: audit verify" : `unknown audit subcommand '${rest.join(" ")}'`);
  }
  const { config, path } = await loadConfig(configPath);
  const source = path ?? "(embedded defaults)";

  if (command === "migrate") {
    const store = await openConfiguredStore(config);
    try {
      const applied = await store.migrate();
      process.stdout.write(applied.length ? `applied migrations: ${applied.join(", ")}\n` : "database is up to date\n");
    } finally {
      await store.close();
    }
    return 0;
  }

  if (command === "audit") {
    // Reads only: no migration, no bootstrap, nothing written.
    const store = await openConfiguredStore(config);
    try {
      const verdict = await verifyAuditChain(store);
      if (verdict.ok) {
        process.stdout.write(`audit log ok: ${verdict.count} records, head hash ${verdict.headHash}\n`);
        return 0;
      }
      process.stdout.write(`audit log broken at record ${verdict.seq}: ${verdict.reason} (${verdict.count} records before it verify)\n`);
      return 1;
    } finally {
      await store.close();
    }
  }

  const gw = await startGateway({ config, source });
  const storage = config.database_url ? "PostgreSQL" : `SQLite in ${config.data_dir}`;
  gw.logger.info({ url: gw.url, config: source, storage }, "switchyard listening");
  process.stdout.write(
    `switchyard listening on ${gw.url} (config: ${source}; storage: ${storage})\n` +
      (gw.adminTokenSource === "SWITCHYARD_ADMIN_TOKEN"
        ? "admin token: from SWITCHYARD_ADMIN_TOKEN\n"
        : `admin token: stored in ${gw.adminTokenSource} (read it with: cat ${gw.adminTokenSource})\n`),
  );
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    gw.logger.info({ signal }, "draining");
    gw.close().then(
      () => process.exit(0),
      (err: unknown) => {
        gw.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  return -1;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`switchyard: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    // Operators get one line; SWITCHYARD_DEBUG=1 adds the stack for a bug report.
    const known = err instanceof ConfigError || err instanceof SecretSetupError;
    const text = err instanceof Error ? (process.env.SWITCHYARD_DEBUG && !known ? (err.stack ?? err.message) : err.message) : String(err);
    process.stderr.write(err instanceof ConfigError ? `${text}\n` : `switchyard: ${text}\n`);
    process.exit(1);
  },
);
