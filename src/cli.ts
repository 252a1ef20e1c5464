#!/usr/bin/env node
/**
 * `switchyard serve` starts the gateway; `switchyard migrate` applies database
 * migrations and exits. Both read the same config (--config, SWITCHYARD_CONFIG,
 * ./switchyard.yaml, or the embedded defaults).
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "./config/load.js";
import { openConfiguredStore, startGateway } from "./main.js";

const USAGE = `Usage: switchyard <command> [--config FILE]

Commands:
  serve     start the gateway (default)
  migrate   apply database migrations and exit

Options:
  -c, --config FILE   config file (default: $SWITCHYARD_CONFIG, then ./switchyard.yaml, then embedded defaults)
  -h, --help          show this help
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string", short: "c" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const command = positionals[0] ?? "serve";
  const { config, path } = await loadConfig(values.config);
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
  if (command !== "serve") {
    process.stderr.write(`unknown command '${command}'\n\n${USAGE}`);
    return 2;
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
    process.stderr.write(err instanceof ConfigError ? `${err.message}\n` : `switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
