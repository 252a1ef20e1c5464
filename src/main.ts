/**
 * Composition root: config → stores → planes → server. The only module that
 * chooses implementations (SQLite or PostgreSQL, …).
 */
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { ConfigFile } from "./config/schema.js";
import { applyBootstrap } from "./config/bootstrap.js";
import { openStore } from "./storage/open-store.js";
import type { Store } from "./storage/ports.js";
import { UsageRecorder } from "./governance/usage-recorder.js";
import { KeyUseRecorder } from "./governance/key-use.js";
import { SecretSetupError, checkMasterKeyEnv, loadKeyring } from "./governance/secrets.js";
import { checkAdminToken, loadAdminToken } from "./governance/admin-token.js";
import { Principals } from "./governance/principals.js";
import { AuditChain } from "./governance/audit.js";
import { Catalog } from "./routing/catalog.js";
import { compileRuleTexts } from "./canonical/model-map.js";
import { AdminService } from "./admin/service.js";
import { createUpstreamHttp } from "./upstream/http-client.js";
import { createLocalKeyHealth } from "./routing/key-health.js";
import { createCredentialCache } from "./upstream/credentials.js";
import { baseChecks, type AdmissionCheck } from "./governance/admission.js";
import { storedUsage } from "./pipeline/settle.js";
import { createExplain } from "./pipeline/explain.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics } from "./observability/metrics.js";
import { createEdge } from "./edge/server.js";
import type { UsageRecord } from "./pipeline/exchange.js";

export interface GatewayOptions {
  config: ConfigFile;
  /** Where the config came from, for messages. */
  source?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Observes every settled request (tests, and later the usage batcher). */
  onUsage?: (rec: UsageRecord) => void;
  /** Admission checks instead of the default ones (the account is active, the model allowed). */
  admissionChecks?: readonly AdmissionCheck[];
}

export interface Gateway {
  url: string;
  port: number;
  adminToken: string;
  adminTokenSource: string;
  store: Store;
  principals: Principals;
  catalog: Catalog;
  logger: Logger;
  /** Graceful: the drain sequence of docs/deployment.md#shutdown up to the grace period, then the usage still waiting is written and stores closed. */
  close(graceMs?: number): Promise<void>;
}

export async function openConfiguredStore(config: ConfigFile): Promise<Store> {
  return openStore({ databaseUrl: config.database_url, dataDir: resolve(config.data_dir) });
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const { config } = o;
  const env = o.env ?? process.env;
  const logger = o.logger ?? createLogger(config.log_level);
  const dataDir = resolve(config.data_dir);
  // Secrets first: a bad SWITCHYARD_MASTER_KEY or admin token is refused before anything is written.
  checkMasterKeyEnv(env);
  if (env.SWITCHYARD_ADMIN_TOKEN) checkAdminToken(env.SWITCHYARD_ADMIN_TOKEN);
  // The current master key seals; previous ones still open, while a rotation is under way.
  const keyring = await loadKeyring(dataDir, env);
  const admin = await loadAdminToken(dataDir, env);
  const store = await openConfiguredStore(config);
  try {
    const applied = await store.migrate();
    if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
    const secrets = keyring.box;
    // Every admin change, the YAML file's included, is appended to the hash-chained audit log.
    const audit = new AuditChain();
    await applyBootstrap(store, secrets, config, o.source ?? "(config)", audit);
    const principals = await Principals.load(store, logger);
    const catalog = await Catalog.load(store, secrets, compileRuleTexts(config.model_map));
    // At start a credential that does not open is a key missing from the ring: say so rather than serve without it.
    const unopened = catalog.snapshot.unopened[0];
    if (unopened) throw new SecretSetupError(`upstream key ${unopened.upstreamKeyId}: ${unopened.reason}`);
    // The one change notification after every admin write: both snapshots the data
    // plane reads are rebuilt before the write is answered. A cluster broadcast joins here.
    const onChange = async (): Promise<void> => {
      await Promise.all([principals.reload(), catalog.reload()]);
      for (const u of catalog.snapshot.unopened) logger.error(u, "upstream key left out of its pool: its credential does not open");
    };
    const keyUse = new KeyUseRecorder(store.apiKeys, logger);
    // A manage key's use of the admin API counts as use too.
    const adminService = new AdminService({ store, secrets, onChange, audit, onKeyUsed: (id) => keyUse.used(id) });
    const metrics = createMetrics();
    const transport = createUpstreamHttp();
    const usageRecorder = new UsageRecorder(store.usage, logger);
    const keyHealth = createLocalKeyHealth();
    const edge = createEdge({
      pipeline: {
        principals,
        catalog,
        transport,
        keyHealth,
        credentials: createCredentialCache(),
        logger,
        metrics,
        maxAttempts: config.server.max_attempts,
        deadlineMs: config.routing.deadline_ms,
        echoServedModel: config.model_map_echo === "served",
        routeHeader: config.server.route_header,
        admissionChecks: o.admissionChecks ?? baseChecks,
        recordUsage(rec) {
          usageRecorder.record(storedUsage(rec));
          keyUse.used(rec.apiKeyId);
          o.onUsage?.(rec);
        },
      },
      admin: { service: adminService, adminToken: admin.token, explain: createExplain({ principals, catalog, keyHealth, accounts: store.accounts }) },
      store,
      logger,
      metrics,
      bodyLimit: config.server.body_limit_bytes,
      headersTimeoutMs: config.server.headers_timeout_ms,
      requestTimeoutMs: config.server.request_timeout_ms,
    });
    await new Promise<void>((resolveListen, reject) => {
      edge.server.once("error", reject);
      edge.server.listen(config.server.port, config.server.host, () => {
        edge.server.off("error", reject);
        resolveListen();
      });
    });
    const addr = edge.server.address() as AddressInfo;
    const host = config.server.host === "0.0.0.0" || config.server.host === "::" ? "127.0.0.1" : config.server.host;
    let closing: Promise<void> | undefined;
    return {
      url: `http://${host.includes(":") ? `[${host}]` : host}:${addr.port}`,
      port: addr.port,
      adminToken: admin.token,
      adminTokenSource: admin.source,
      store,
      principals,
      catalog,
      logger,
      close(graceMs = config.server.shutdown_grace_ms) {
        closing ??= (async () => {
          await edge.drain(graceMs, config.server.drain_delay_ms);
          await transport.close();
          await usageRecorder.close();
          await keyUse.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}
