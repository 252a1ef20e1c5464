/**
 * Composition root: config → stores → planes → server. The only module that
 * chooses implementations (SQLite or PostgreSQL, …).
 */
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import type { ConfigFile } from "./config/schema.js";
import { applyBootstrap } from "./config/bootstrap.js";
import { openStore, resolveDatabaseLocation } from "./storage/open-store.js";
import { LOCAL_CHANGE_FEED, type ChangeFeed, type ChangeNotice, type Store } from "./storage/ports.js";
import { SQLITE_ROWS_PER_WRITE, UsageRecorder } from "./governance/usage-recorder.js";
import { KeyUseRecorder } from "./governance/key-use.js";
import { SecretSetupError, checkMasterKeyEnv, loadKeyring } from "./governance/secrets.js";
import { checkAdminToken, loadAdminToken } from "./governance/admin-token.js";
import { Principals } from "./governance/principals.js";
import { AuditChain } from "./governance/audit.js";
import { Catalog } from "./routing/catalog.js";
import { compileRuleTexts } from "./canonical/model-map.js";
import { AdminService } from "./admin/service.js";
import { createUpstreamHttp } from "./upstream/http-client.js";
import { randomUUID } from "node:crypto";
import { createLocalKeyHealth, type KeyHealthEngine } from "./routing/key-health.js";
import { keyEventHandler } from "./routing/key-health-events.js";
import type { KeyStateBus } from "./routing/key-state-bus.js";
import type { Meter } from "./governance/counters.js";
import { MemoryCounters } from "./governance/counters-memory.js";
import { FallbackMeter } from "./governance/fallback-meter.js";
import { KeyProber } from "./routing/prober.js";
import type { PoolKey } from "./routing/key-pool.js";
import type { KeyHeadroomView, KeyStateView } from "./admin/routes.js";
import type { CodexUsage, UsageWindow } from "./routing/key-headroom.js";
import { TierRouter } from "./routing/tier-router.js";
import { createCredential, createCredentialCache } from "./upstream/credentials.js";
import { OAuthAccounts, type OAuthClock } from "./upstream/chatgpt-oauth.js";
import { isCodexAuthSecret, parseCodexAuth, codexFingerprintMaterial, codexTokenMeta, serializeCodexAuth } from "./upstream/codex-auth.js";
import { SealedCredentialVault } from "./governance/credential-vault.js";
import { fingerprint } from "./governance/secrets.js";
import { baseChecks, type AdmissionCheck } from "./governance/admission.js";
import { limitsCheck } from "./governance/limits.js";
import { TablePricer } from "./governance/price-table.js";
import { Billing } from "./governance/billing.js";
import type { Pricer } from "./governance/pricing.js";
import { storedUsage } from "./pipeline/settle.js";
import { createExplain } from "./pipeline/explain.js";
import { createLogger, type Logger } from "./observability/logger.js";
import { createMetrics, type KeyUsageSample, type Metrics } from "./observability/metrics.js";
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
  /** The counters limits are kept on, instead of the configured engine (tests read them). */
  meter?: Meter;
  /** Prices usage instead of the configured price table (`pricing:`). */
  pricer?: Pricer;
  /** The clock of routing and key health (epoch ms; default Date.now): tests move it instead of waiting out cooldowns. */
  now?: () => number;
  /** Time and timers for ChatGPT logins' refreshes (tests run days of token lifetimes on a simulated clock). */
  credentialClock?: OAuthClock;
  /** How often a node waiting for another node's refresh of a login looks at the store (real ms; default 100). */
  credentialLeasePollMs?: number;
}

export interface Gateway {
  url: string;
  port: number;
  adminToken: string;
  adminTokenSource: string;
  store: Store;
  principals: Principals;
  catalog: Catalog;
  /** How this node hears of other nodes' admin writes: Redis, PostgreSQL, or local (one node). */
  changeFeed: ChangeFeed;
  /** The counters limits, quotas and credit views are checked against (`governance.counters`). */
  meter: Meter;
  logger: Logger;
  /** Graceful: the drain sequence of docs/deployment.md#shutdown up to the grace period, then the usage still waiting is written and stores closed. */
  close(graceMs?: number): Promise<void>;
}

/**
 * The configuration's store. The gateway passes `logger`: on SQLite its WAL is then checkpointed
 * from a worker thread (storage/sql/wal-checkpointer.ts), which a CLI command has no use for.
 */
export async function openConfiguredStore(config: ConfigFile, gateway?: { logger: Logger }): Promise<Store> {
  return openStore({
    databaseUrl: config.database_url,
    dataDir: resolve(config.data_dir),
    walCheckpointer: gateway !== undefined,
    onCheckpointerLost: (err) => gateway?.logger.warn({ err }, "the WAL checkpointer thread stopped; SQLite checkpoints inside the gateway's commits again"),
  });
}

/**
 * The change feed for this configuration: Redis pub/sub when `redis_url` is set, else
 * PostgreSQL LISTEN/NOTIFY on a PostgreSQL database, else none (SQLite is one node).
 * The Redis and PostgreSQL clients are loaded only when configured: a gateway on SQLite
 * never holds their code (about 1 MB of heap, which every full collection marks).
 */
export async function openChangeFeed(config: ConfigFile, logger: Pick<Logger, "warn">, node: string = randomUUID()): Promise<ChangeFeed> {
  const channel = config.cluster.channel;
  if (config.redis_url) {
    const { RedisChangeFeed } = await import("./storage/redis/change-feed.js");
    return new RedisChangeFeed({
      url: config.redis_url,
      channel,
      node,
      onError: (err) => logger.warn({ err: err.message }, "change feed: Redis connection trouble"),
    });
  }
  const location = resolveDatabaseLocation(config.database_url, resolve(config.data_dir));
  if (location.kind === "postgres") {
    const { PgChangeFeed } = await import("./storage/sql/pg-change-feed.js");
    return new PgChangeFeed({
      url: location.url,
      channel,
      node,
      onError: (err) => logger.warn({ err: err.message }, "change feed: PostgreSQL connection trouble"),
    });
  }
  return LOCAL_CHANGE_FEED;
}

/** The counters engine of `governance.counters`, and how to close it. */
export interface OpenedMeter {
  meter: Meter;
  close(): Promise<void>;
}

/**
 * The counters engine for this configuration: Redis (when `governance.counters` is
 * `redis`, or unset and `redis_url` is set), wrapped in the fallback of
 * `governance.on_counters_unavailable`; else in this process.
 */
export async function openMeter(config: ConfigFile, env: NodeJS.ProcessEnv, logger: Pick<Logger, "warn" | "info">, metrics?: Metrics): Promise<OpenedMeter> {
  const g = config.governance;
  const engine = g.counters ?? (config.redis_url ? "redis" : "memory");
  if (engine === "memory") return { meter: new MemoryCounters(), close: () => Promise.resolve() };
  if (!config.redis_url) throw new Error("governance.counters is 'redis' but redis_url is not set");
  let warned = false;
  const { connectRedisMeter } = await import("./storage/redis/meter.js");
  const redis = connectRedisMeter(config.redis_url, {
    prefix: `${env.SWITCHYARD_REDIS_PREFIX ?? "switchyard:"}meter:`,
    commandTimeoutMs: Math.max(g.counters_timeout_ms * 4, 1000),
    // The fallback logs the outage once; the connection's own errors repeat on every reconnect attempt.
    onError: (err) => {
      if (warned) return;
      warned = true;
      logger.warn({ err: err.message }, "redis (counters): connection error");
    },
  });
  metrics?.countersShared.set(1);
  const meter = new FallbackMeter({
    shared: redis,
    mode: g.on_counters_unavailable,
    timeoutMs: g.counters_timeout_ms,
    logger,
    onAvailability: (up) => {
      if (up) warned = false;
      metrics?.countersShared.set(up ? 1 : 0);
    },
  });
  // Connected before the first request where possible; if Redis is away, the fallback decides meanwhile.
  await redis.ready(2000).catch(() => logger.warn({}, "redis (counters): not connected at start; the fallback counts meanwhile"));
  return { meter, close: () => redis.close() };
}

/**
 * The admission checks, in order, composed from what governance needs: `meter` is where
 * limit, quota and credit checks count (they join `baseChecks` here).
 */
function composeChecks(deps: { meter: Meter; billing: Billing }): readonly AdmissionCheck[] {
  // Limits before money: a request refused for its rate never holds credit.
  return [...baseChecks, limitsCheck(deps.meter), deps.billing.check];
}

/** What a change touches on this node: the principals it names, and the catalog when upstreams changed. */
function isCatalogChange(notice: ChangeNotice): boolean {
  return notice.type === "upstream" || notice.type === "upstream_key" || notice.type === "config";
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const { config } = o;
  const clock = o.now ?? Date.now;
  const env = o.env ?? process.env;
  const logger = o.logger ?? createLogger(config.log_level);
  const dataDir = resolve(config.data_dir);
  // Secrets first: a bad SWITCHYARD_MASTER_KEY or admin token is refused before anything is written.
  checkMasterKeyEnv(env);
  if (env.SWITCHYARD_ADMIN_TOKEN) checkAdminToken(env.SWITCHYARD_ADMIN_TOKEN);
  // The current master key seals; previous ones still open, while a rotation is under way.
  const keyring = await loadKeyring(dataDir, env);
  const admin = await loadAdminToken(dataDir, env);
  const store = await openConfiguredStore(config, { logger });
  let feed: ChangeFeed | undefined;
  let bus: KeyStateBus | undefined;
  let counters: OpenedMeter | undefined;
  try {
    const applied = await store.migrate();
    if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
    const secrets = keyring.box;
    // Every admin change, the YAML file's included, is appended to the hash-chained audit log.
    const audit = new AuditChain();
    await applyBootstrap(store, secrets, config, o.source ?? "(config)", audit, { codexAuth: importCodexAuth });
    // Principals are loaded on demand, key by key: nothing is read here, however many accounts and keys are stored.
    const pc = config.principal_cache;
    const principals = new Principals(store, {
      maxKeys: pc.max_keys,
      maxChainLinks: pc.max_chain_links,
      maxUnknownKeys: pc.max_unknown_keys,
      loadsPerSecond: pc.loads_per_second,
      logger,
    });
    const catalog = await Catalog.load(store, secrets, compileRuleTexts(config.model_map));
    // At start a credential that does not open is a key missing from the ring: say so rather than serve without it.
    const unopened = catalog.snapshot.unopened[0];
    if (unopened) throw new SecretSetupError(`upstream key ${unopened.upstreamKeyId}: ${unopened.reason}`);
    // Set once the credentials exist: after every reload, ChatGPT logins follow the catalog (timers started and stopped).
    let afterReload = (): void => undefined;
    const reloadCatalog = async (): Promise<void> => {
      await catalog.reload();
      for (const u of catalog.snapshot.unopened) logger.error(u, "upstream key left out of its pool: its credential does not open");
      afterReload();
    };
    const applyChange = async (notice: ChangeNotice): Promise<void> => {
      await Promise.all([principals.invalidate(notice), isCatalogChange(notice) ? reloadCatalog() : undefined]);
    };
    const changeFeed = (feed = await openChangeFeed(config, logger));
    await changeFeed.start({
      change: (notice) => {
        applyChange(notice).catch((err: Error) => {
          // Still stale here: forget everything rather than serve it.
          logger.error({ err: err.message, notice }, "could not apply a change from another node; dropping every cached principal");
          principals.clear();
        });
      },
      reset: () => {
        logger.warn(
          { feed: changeFeed.kind },
          "change feed reconnected; notices may have been lost, so cached principals are dropped and the catalog reloaded",
        );
        principals.clear();
        reloadCatalog().catch((err: Error) => logger.error({ err: err.message }, "catalog reload after a change-feed reconnect failed"));
      },
    });
    // The configuration file was just applied to the shared database: nodes already running
    // drop what it may have changed (declared accounts and keys; upstreams).
    if (config.accounts.length > 0 || config.upstreams.length > 0) await changeFeed.publish({ type: "config", id: o.source ?? "(config)" });
    // After every admin write: this node applies the change before the write is answered,
    // then tells the others (docs/architecture.md#the-change-feed).
    const metrics = createMetrics();
    counters = await openMeter(config, env, logger, metrics);
    // A meter passed in (tests that read the counts) replaces the configured engine.
    const meter = o.meter ?? counters.meter;
    // One price table for the process: settlement prices usage with it, billing estimates with it.
    const pricer = o.pricer ?? new TablePricer({ models: config.pricing.models, version: config.pricing.version, builtin: config.pricing.builtin });
    // Money on the hot path (docs/billing.md): balance views, quotas and spend caps on the meter; debits with the usage batches.
    const node = randomUUID();
    const billing = new Billing({ meter, pricer, ledger: store.ledger, nodeId: node });
    const onChange = async (event: { action: string; target: ChangeNotice; after?: Record<string, unknown> | null }): Promise<void> => {
      // A credit movement changes a wallet: its balance view (and the counterparty's) is reloaded; one shared engine needs one reload.
      if (event.action.startsWith("credits.")) {
        const counterparty = event.after?.counterparty_account_id;
        await billing.reload(event.target.id);
        if (typeof counterparty === "string") await billing.reload(counterparty);
        return;
      }
      const notices: ChangeNotice[] = [{ type: event.target.type, id: event.target.id }];
      // A deleted account takes the upstreams it owned with it.
      if (event.action === "account.delete") notices.push({ type: "upstream", id: event.target.id });
      for (const notice of notices) {
        await applyChange(notice);
        await changeFeed.publish(notice);
      }
    };
    const keyUse = new KeyUseRecorder(store.apiKeys, logger);
    // A manage key's use of the admin API counts as use too.
    const adminService = new AdminService({ store, secrets, onChange, audit, onKeyUsed: (id) => keyUse.used(id) });
    const transport = createUpstreamHttp();
    const usageRecorder = new UsageRecorder(store.usage, logger, {
      charging: { debited: (w) => billing.debited(w) },
      // SQLite runs on the event loop: short transactions, so no stream waits long behind one.
      rowsPerWrite: store.dialect === "sqlite" ? SQLITE_ROWS_PER_WRITE : undefined,
    });
    // Key health: local state per key; in a cluster, transitions travel over Redis so every node drops a dead key.
    bus = config.redis_url
      ? (await import("./storage/redis/key-state-bus.js")).createRedisKeyStateBus({ url: config.redis_url, node, logger, prefix: env.SWITCHYARD_REDIS_PREFIX })
      : undefined;
    const h = config.routing.health;
    const keyHealth = createLocalKeyHealth({
      settings: {
        breakerThreshold: h.breaker_threshold,
        breakerCooldownMs: h.breaker_cooldown_ms,
        breakerMaxCooldownMs: h.breaker_max_cooldown_ms,
        rateLimitBackoffMs: h.rate_limit_backoff_ms,
        rateLimitMaxBackoffMs: h.rate_limit_max_backoff_ms,
        quotaCooldownMs: h.quota_cooldown_ms,
        usageLimitCooldownMs: h.usage_limit_cooldown_ms,
        usageLimitMaxWaitMs: h.usage_limit_max_wait_ms,
        maxWaitMs: h.max_wait_ms,
      },
      now: clock,
      onTransition: keyEventHandler({ logger, metrics, bus, node }),
      keys: () => servedKeys(catalog),
    });
    if (bus) {
      bus.subscribe((t) => keyHealth.apply(t));
      // Redis being away costs only the sharing: this node judges its keys by itself meanwhile.
      const inForce = await bus.current().catch((err: Error) => {
        logger.warn({ err: err.message }, "redis (key state): could not read the key states in force");
        return [];
      });
      for (const t of inForce) keyHealth.apply(t);
    }
    metrics.keyStates.source = () => keySamples(catalog, keyHealth, clock());
    metrics.keyUsage.source = () => usageSamples(catalog, clock());
    // ChatGPT logins (docs/codex.md): token sets sealed in the store, rotated under a row lease so one node refreshes at a time.
    const vault = new SealedCredentialVault(store.upstreamKeys, secrets);
    const oauth = new OAuthAccounts({
      vault: {
        load: (id) => vault.load(id),
        rotate: (id, expected, secret, meta) => vault.rotate(id, expected, secret, meta),
        lease: (id, ttl) => vault.lease(id, ttl),
        // A dead login leaves routing on every node: this one reloads now, the others on the notice.
        async markDead(id, reason) {
          await vault.markDead(id, reason);
          const notice: ChangeNotice = { type: "upstream_key", id };
          await applyChange(notice);
          await changeFeed.publish(notice);
        },
      },
      clock: o.credentialClock,
      leasePollMs: o.credentialLeasePollMs,
      logger,
      metrics,
    });
    const credentials = createCredentialCache((upstream, secret, key) => {
      if (upstream.protocol !== "codex" || !isCodexAuthSecret(secret) || key.id === undefined || key.fingerprint === undefined)
        return createCredential(upstream, secret);
      try {
        return oauth.create({ name: upstream.name ?? "codex", settings: upstream.settings }, { id: key.id, fingerprint: key.fingerprint, secret });
      } catch (err) {
        logger.error(
          { upstream: upstream.name, key: key.fingerprint, err: (err as Error).message },
          "stored ChatGPT login is unreadable; it is sent as a static token",
        );
        return createCredential(upstream, secret);
      }
    });
    // Every login in the catalog gets its credential (and its refresh timer) now, not on its first request.
    afterReload = () => {
      const kept = new Map<string, { settings: Record<string, unknown> }>();
      for (const t of catalog.snapshot.upstreams) {
        if (t.protocol !== "codex") continue;
        for (const k of t.pool.keys) {
          if (!isCodexAuthSecret(k.secret)) continue;
          try {
            credentials(t.upstream, k);
            kept.set(k.id, t.upstream);
          } catch (err) {
            logger.error({ upstream: t.upstream.name, key: k.fingerprint, err: (err as Error).message }, "stored ChatGPT login is unreadable");
          }
        }
      }
      oauth.retain(kept);
    };
    afterReload();
    metrics.credentials.source = function* () {
      for (const d of catalog.snapshot.dead ?? []) yield { upstream: d.upstream, key: d.fingerprint, dead: d.reason, expiresAt: null };
      for (const c of oauth.live()) yield { upstream: c.upstream, key: c.fingerprint, dead: c.dead ?? null, expiresAt: c.tokens.expiresAt };
    };
    const prober = new KeyProber({
      catalog,
      health: keyHealth,
      transport,
      credentials,
      logger,
      intervalMs: h.probe_interval_ms,
      timeoutMs: h.probe_timeout_ms,
      probeDisabled: h.probe_disabled,
    });
    if (h.probe_interval_ms > 0) prober.start();
    const tierRouter = new TierRouter({ holdDownMs: config.routing.tier_hold_down_ms });
    const edge = createEdge({
      pipeline: {
        principals,
        catalog,
        transport,
        keyHealth,
        tierRouter,
        credentials,
        logger,
        metrics,
        maxAttempts: config.server.max_attempts,
        deadlineMs: config.routing.deadline_ms,
        echoServedModel: config.model_map_echo === "served",
        routeHeader: config.server.route_header,
        admissionChecks: o.admissionChecks ?? composeChecks({ meter, billing }),
        defaultOutputTokens: config.governance.default_output_tokens,
        pricer,
        now: clock,
        recordUsage(rec) {
          usageRecorder.record(storedUsage(rec));
          keyUse.used(rec.apiKeyId);
          o.onUsage?.(rec);
        },
      },
      admin: {
        service: adminService,
        adminToken: admin.token,
        explain: createExplain({ principals, catalog, keyHealth, tierRouter, accounts: store.accounts }),
        keyStates: (upstreamId) => keyStates(catalog, keyHealth, upstreamId, clock()),
      },
      store,
      logger,
      metrics,
      bodyLimit: config.server.body_limit_bytes,
      headersTimeoutMs: config.server.headers_timeout_ms,
      requestTimeoutMs: config.server.request_timeout_ms,
      trustedProxies: config.server.trusted_proxies,
      realtimeMaxFrameBytes: config.server.realtime_max_frame_bytes,
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
      changeFeed,
      meter,
      logger,
      close(graceMs = config.server.shutdown_grace_ms) {
        closing ??= (async () => {
          await prober.stop();
          oauth.close();
          await edge.drain(graceMs, config.server.drain_delay_ms);
          await bus?.close();
          await transport.close();
          // The last records' debits rebase the balance views on the meter, so it closes after them.
          await usageRecorder.close();
          await counters?.close();
          await keyUse.close();
          await changeFeed.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    await feed?.close();
    await bus?.close();
    await counters?.close();
    await store.close();
    throw err;
  }
}

/** A Codex auth.json named by the YAML file, as the bootstrap stores it: the token set, its fingerprint and shown metadata. */
function importCodexAuth(text: string): { secret: string; fingerprint: string; meta: Record<string, unknown> } {
  const set = parseCodexAuth(text);
  return { secret: serializeCodexAuth(set), fingerprint: fingerprint(codexFingerprintMaterial(set)), meta: { ...codexTokenMeta(set) } };
}

function* servedKeys(catalog: Catalog): Iterable<PoolKey> {
  for (const t of catalog.snapshot.upstreams) yield* t.pool.keys;
}

function* keySamples(catalog: Catalog, health: KeyHealthEngine, now: number): Iterable<{ upstream: string; key: string; state: string }> {
  for (const t of catalog.snapshot.upstreams)
    for (const k of t.pool.keys) yield { upstream: t.upstream.name, key: k.fingerprint, state: health.view(k, now).state };
}

/** Each subscription key's usage windows, for the usage gauges (docs/codex.md#subscription-headroom-and-cooldowns). */
function* usageSamples(catalog: Catalog, now: number): Iterable<KeyUsageSample> {
  for (const t of catalog.snapshot.upstreams)
    for (const k of t.pool.keys) {
      const u = k.usage;
      if (!u) continue;
      for (const [window, w] of [
        ["primary", u.primary],
        ["secondary", u.secondary],
      ] as const) {
        if (!w) continue;
        // A window past its reset is empty until the next answer says otherwise (routing/key-headroom.ts).
        const passed = w.resetsAt !== null && w.resetsAt <= now;
        yield { upstream: t.upstream.name, key: k.fingerprint, window, usedPercent: passed ? 0 : w.usedPercent, resetsAt: passed ? null : w.resetsAt };
      }
    }
}

/** The admin API's view of one upstream's keys in service on this node. */
function keyStates(catalog: Catalog, health: KeyHealthEngine, upstreamId: string, now: number): Map<string, KeyStateView> {
  const out = new Map<string, KeyStateView>();
  for (const t of catalog.snapshot.upstreams) {
    if (t.upstream.id !== upstreamId) continue;
    for (const k of t.pool.keys) {
      const v = health.view(k, now);
      out.set(k.id, {
        state: v.state,
        reason: v.reason,
        until: v.until,
        in_flight: v.inFlight,
        latency_ms_ewma: v.latencyMsEwma,
        error_rate: v.errorRate,
        headroom: k.usage ? headroomView(k.usage) : null,
      });
    }
  }
  return out;
}

function headroomView(u: CodexUsage): KeyHeadroomView {
  const w = (x: UsageWindow | null) => x && { used_percent: x.usedPercent, window_minutes: x.windowMinutes, resets_at: x.resetsAt };
  return {
    primary: w(u.primary),
    secondary: w(u.secondary),
    credits: u.credits && { has_credits: u.credits.hasCredits, unlimited: u.credits.unlimited, balance: u.credits.balance },
    observed_at: u.observedAt,
  };
}
