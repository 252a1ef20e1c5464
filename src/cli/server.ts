/**
 * `switchyard serve` starts the gateway; `switchyard migrate` applies database
 * migrations and exits. Both read the same config (--config, SWITCHYARD_CONFIG,
 * ./switchyard.yaml, or the embedded defaults).
 */
import { loadConfig } from "../config/load.js";
import { openConfiguredStore, startGateway } from "../main.js";
import type { Register } from "./context.js";
import { UsageError, type CliIo } from "./io.js";
import { tuneV8ForServing } from "./v8-tuning.js";

/** `npm start --config x.yaml` hands --config to npm, which passes it on only as npm_config_config. */
function refuseConfigSwallowedByNpm(io: CliIo, configPath: string | undefined): void {
  const npmTookConfig = io.env.npm_config_config;
  // Starting on the defaults instead would ignore the file the operator named.
  if (configPath === undefined && npmTookConfig && io.env.npm_lifecycle_event) {
    throw new UsageError(`npm took --config ${npmTookConfig} for itself; pass it through with: npm start -- --config ${npmTookConfig}`);
  }
}

export const registerServer: Register = (program, ctx) => {
  program
    .command("serve")
    .description("start the gateway (the default command)")
    .action(async () => {
      const { io } = ctx;
      refuseConfigSwallowedByNpm(io, ctx.configPath());
      tuneV8ForServing();
      const { config, path } = await loadConfig(ctx.configPath(), io.env);
      const source = path ?? "(embedded defaults)";
      const gw = await startGateway({ config, source, env: io.env });
      const storage = config.database_url ? "PostgreSQL" : `SQLite in ${config.data_dir}`;
      gw.logger.info({ url: gw.url, config: source, storage }, "switchyard listening");
      io.out(
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
      ctx.keepRunning();
    });

  program
    .command("migrate")
    .description("apply database migrations and exit")
    .action(async () => {
      const { io } = ctx;
      refuseConfigSwallowedByNpm(io, ctx.configPath());
      const { config } = await loadConfig(ctx.configPath(), io.env);
      const store = await openConfiguredStore(config);
      try {
        const applied = await store.migrate();
        io.out(applied.length ? `applied migrations: ${applied.join(", ")}\n` : "database is up to date\n");
      } finally {
        await store.close();
      }
    });
};
