/**
 * The price table: what a million tokens of each kind cost on a model, and the Pricer
 * that applies it (governance/pricing.ts declares the port).
 *
 * Prices are integer micro-units of the billing currency (1 USD = 1,000,000 micros) per
 * million tokens. A usage's cost is computed exactly in BigInt and rounded once, up, to a
 * whole micro: a request is never billed less than it used, and no float ever carries
 * money (the price multiplier is read as a whole number of millionths first).
 *
 * The cost follows the gateway's usage convention (canonical/usage.ts): `inputTokens` is
 * the WHOLE prompt, cached reads and cache writes included, and `outputTokens` already
 * includes reasoning tokens. So
 *
 *     cost = (input − cached − cacheWrite) × inputPrice + cached × cachedInputPrice
 *          + cacheWrite × cacheWritePrice + output × outputPrice
 *
 * Cached tokens are taken out of the input once, here and nowhere else (new-api #5003
 * subtracted them twice and billed a negative uncached share). Reasoning tokens are not
 * added again: they are part of the output.
 *
 * Where a price comes from, nearest first (docs/configuration.md#pricing):
 * 1. account policies (`prices`, pattern → price). An entry on a top-level account (one
 *    only the root admin can write) replaces the gateway's price for that tenant; an entry
 *    below may only raise it: each component is the largest of the entries along the chain
 *    and the price above. A manage key therefore cannot make its subtree cheaper than what
 *    its own account pays; the price multiplier (the largest along the chain) then applies.
 * 2. the YAML `pricing:` section (gateway-wide, with its own `version` label);
 * 3. the built-in table below.
 * Within one table a model's own name wins over patterns, and a longer pattern over a
 * shorter one (`gpt-5-mini*` before `gpt-5*`). A model no table prices costs 0 and is
 * recorded with the version `unpriced`.
 *
 * The resolution is cached per folded policy and model (a WeakMap keyed by the policy
 * object, bounded per policy), so the hot path prices a request with one map lookup and a
 * few BigInt multiplications.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { compileModelPatterns, type ModelMatcher } from "../canonical/model-pattern.js";
import type { Usage } from "../canonical/usage.js";
import type { TokenEstimate } from "./admission.js";
import type { EffectivePolicy } from "./policy.js";
import type { PriceQuote, Pricer } from "./pricing.js";

/** Micros per million tokens of each kind; `cached_input` and `cache_write` default to `input`. */
export interface ModelPrice {
  readonly input: number;
  readonly cached_input?: number;
  readonly cache_write?: number;
  readonly output: number;
}

const microsPerMillion = z.number().int("a whole number of micro-units per million tokens").nonnegative().max(Number.MAX_SAFE_INTEGER);

/** One model's prices as the YAML file and the admin API take them (micro-units per million tokens). */
export const modelPriceInput = z.strictObject({
  input: microsPerMillion,
  cached_input: microsPerMillion.optional(),
  cache_write: microsPerMillion.optional(),
  output: microsPerMillion,
});

/** Model name or `*` pattern → prices. */
export const priceListInput = z.record(z.string().min(1), modelPriceInput);

/** The same, read leniently from a stored policy (a newer node may have added a component). */
export const priceListStored = z.record(z.string().min(1), modelPriceInput.loose());

export type PriceList = Readonly<Record<string, ModelPrice>>;

/** A price with every component filled, as BigInt for the arithmetic. */
interface ResolvedPrice {
  readonly input: bigint;
  readonly cachedInput: bigint;
  readonly cacheWrite: bigint;
  readonly output: bigint;
  /** The entry (or entries, `+`-joined) that decided it, with their revisions. */
  readonly version: string;
}

interface TableEntry {
  readonly pattern: string;
  readonly matcher: ModelMatcher;
  readonly price: ModelPrice;
}

/** A price list compiled for lookup: exact names in a map, patterns longest first. */
export class PriceTable {
  readonly #exact = new Map<string, TableEntry>();
  readonly #patterns: TableEntry[] = [];

  /** `label(pattern)` names the entry in the version stored on usage records. */
  constructor(
    list: PriceList,
    readonly label: (pattern: string, price: ModelPrice) => string,
  ) {
    for (const [pattern, price] of Object.entries(list)) {
      const entry = { pattern, matcher: compileModelPatterns([pattern]), price };
      if (pattern.includes("*")) this.#patterns.push(entry);
      else this.#exact.set(pattern, entry);
    }
    // Most specific first: more literal characters, then the text, for a stable order.
    this.#patterns.sort((a, b) => literalLength(b.pattern) - literalLength(a.pattern) || (a.pattern < b.pattern ? -1 : 1));
  }

  lookup(model: string): TableEntry | undefined {
    const exact = this.#exact.get(model);
    if (exact) return exact;
    for (const e of this.#patterns) if (e.matcher.matches(model)) return e;
    return undefined;
  }

  get size(): number {
    return this.#exact.size + this.#patterns.length;
  }
}

function literalLength(pattern: string): number {
  return pattern.replaceAll("*", "").length;
}

function resolved(price: ModelPrice, version: string): ResolvedPrice {
  return {
    input: BigInt(price.input),
    cachedInput: BigInt(price.cached_input ?? price.input),
    cacheWrite: BigInt(price.cache_write ?? price.input),
    output: BigInt(price.output),
    version,
  };
}

function maxPrice(a: ResolvedPrice, b: ResolvedPrice): ResolvedPrice {
  const max = (x: bigint, y: bigint): bigint => (x > y ? x : y);
  return {
    input: max(a.input, b.input),
    cachedInput: max(a.cachedInput, b.cachedInput),
    cacheWrite: max(a.cacheWrite, b.cacheWrite),
    output: max(a.output, b.output),
    version: `${a.version}+${b.version}`,
  };
}

const MILLION = 1_000_000n;

/** Whole millionths of the multiplier: 1.2 → 1,200,000. Multipliers are set by people, six decimals are plenty. */
function multiplierPpm(multiplier: number): bigint {
  return BigInt(Math.round(multiplier * 1_000_000));
}

/**
 * The cost of `usage` at `price` times the multiplier (in millionths), in micros, rounded
 * up once. Token counts the upstream reported inconsistently (cached above the input) are
 * billed as reported: the uncached share is never negative.
 */
export function costMicros(price: Pick<ResolvedPrice, "input" | "cachedInput" | "cacheWrite" | "output">, usage: Usage, ppm = MILLION): number {
  const cached = BigInt(Math.max(0, usage.cachedInputTokens));
  const write = BigInt(Math.max(0, usage.cacheWriteTokens));
  const input = BigInt(Math.max(0, usage.inputTokens));
  let uncached = input - cached - write;
  if (uncached < 0n) uncached = 0n;
  const output = BigInt(Math.max(0, usage.outputTokens));
  // micros per million tokens × tokens × ppm / (10^6 tokens × 10^6 ppm)
  const numerator = (uncached * price.input + cached * price.cachedInput + write * price.cacheWrite + output * price.output) * ppm;
  const denominator = MILLION * MILLION;
  const whole = (numerator + denominator - 1n) / denominator;
  return Number(whole);
}

function shortHash(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 8);
}

/** Prices per model along an account chain, found once per (policy, model). */
const MAX_MODELS_PER_POLICY = 1024;

export interface TablePricerOptions {
  /** The YAML `pricing.models`; checked before the built-in table. */
  models?: PriceList;
  /** The YAML `pricing.version` label, stored on usage records priced from `models`. */
  version?: string;
  /** Whether the built-in table below is consulted at all (YAML `pricing.builtin`). */
  builtin?: boolean;
}

/** The account-level price lists on a folded chain, compiled once per policy object. */
const accountTables = new WeakMap<EffectivePolicy["prices"], ReadonlyArray<{ table: PriceTable; topLevel: boolean }>>();

function tablesOf(prices: EffectivePolicy["prices"]): ReadonlyArray<{ table: PriceTable; topLevel: boolean }> {
  let tables = accountTables.get(prices);
  if (!tables) {
    tables = prices.map((p) => ({
      table: new PriceTable(p.prices, (_pattern, price) => `account:${p.accountId}@${shortHash(price)}`),
      topLevel: p.topLevel,
    }));
    accountTables.set(prices, tables);
  }
  return tables;
}

export class TablePricer implements Pricer {
  readonly #gateway: PriceTable[];
  readonly #perPolicy = new WeakMap<EffectivePolicy, Map<string, ResolvedPrice | null>>();
  readonly #noPolicy = new Map<string, ResolvedPrice | null>();

  constructor(opts: TablePricerOptions = {}) {
    this.#gateway = [];
    if (opts.models && Object.keys(opts.models).length > 0) {
      const version = opts.version ?? "config";
      this.#gateway.push(new PriceTable(opts.models, (pattern) => `${version}/${pattern}`));
    }
    if (opts.builtin !== false) this.#gateway.push(BUILTIN_TABLE);
  }

  cost(policy: EffectivePolicy | undefined, model: string, usage: Usage): PriceQuote {
    const price = this.#price(policy, model);
    if (!price) return { micros: 0, version: "unpriced" };
    const multiplier = policy?.priceMultiplier.value ?? 1;
    const version = multiplier === 1 ? price.version : `${price.version};x${multiplier}`;
    return { micros: costMicros(price, usage, multiplierPpm(multiplier)), version };
  }

  estimate(policy: EffectivePolicy | undefined, model: string, estimate: TokenEstimate): number {
    const price = this.#price(policy, model);
    if (!price) return 0;
    const usage: Usage = {
      inputTokens: estimate.inputTokens,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: estimate.outputTokens,
      reasoningTokens: 0,
    };
    return costMicros(price, usage, multiplierPpm(policy?.priceMultiplier.value ?? 1));
  }

  #price(policy: EffectivePolicy | undefined, model: string): ResolvedPrice | null {
    let cache = policy ? this.#perPolicy.get(policy) : this.#noPolicy;
    if (!cache) {
      cache = new Map();
      this.#perPolicy.set(policy!, cache);
    }
    let price = cache.get(model);
    if (price === undefined) {
      price = this.#resolve(policy, model);
      // Bounded: a client sending endless distinct model names cannot grow it; the rare refill is cheap.
      if (cache.size >= MAX_MODELS_PER_POLICY) cache.clear();
      cache.set(model, price);
    }
    return price;
  }

  #resolve(policy: EffectivePolicy | undefined, model: string): ResolvedPrice | null {
    const tables = policy ? tablesOf(policy.prices) : [];
    // From the top of the chain down: a top-level account's entry replaces the gateway's
    // price, every entry below may only raise each component.
    let price = this.#gatewayPrice(model);
    for (let i = tables.length - 1; i >= 0; i--) {
      const { table, topLevel } = tables[i]!;
      const entry = table.lookup(model);
      if (!entry) continue;
      const own = resolved(entry.price, table.label(entry.pattern, entry.price));
      price = topLevel || !price ? own : maxPrice(price, own);
    }
    return price;
  }

  #gatewayPrice(model: string): ResolvedPrice | null {
    for (const table of this.#gateway) {
      const entry = table.lookup(model);
      if (entry) return resolved(entry.price, table.label(entry.pattern, entry.price));
    }
    return null;
  }
}

/** The revision of the built-in table, stored in usage records' price versions. */
export const BUILTIN_PRICE_VERSION = "builtin-2026-12";

/** USD per million tokens → micros. */
function usd(perMillion: number): number {
  return Math.round(perMillion * 1_000_000);
}

/** CNY per million tokens → USD micros at the rate below (providers that publish only CNY list prices). */
const CNY_PER_USD = 7.2;
function cny(perMillion: number): number {
  return Math.round((perMillion / CNY_PER_USD) * 1_000_000);
}

function p(input: number, output: number, cachedInput?: number, cacheWrite?: number): ModelPrice {
  return {
    input,
    output,
    ...(cachedInput === undefined ? {} : { cached_input: cachedInput }),
    ...(cacheWrite === undefined ? {} : { cache_write: cacheWrite }),
  };
}

/**
 * Seed list prices, standard (not batch, not priority) tier, shortest context tier where a
 * provider prices by prompt length. Figures are the providers' public pricing pages as the
 * team read them in late 2026 (OpenAI platform.openai.com/docs/pricing, Anthropic
 * docs.anthropic.com/en/docs/about-claude/pricing with 5-minute cache writes, DeepSeek
 * api-docs.deepseek.com/quick_start/pricing, Moonshot platform.moonshot.ai, Zhipu
 * docs.z.ai, MiniMax platform.minimax.io, Alibaba Model Studio international prices);
 * Doubao (Volcengine Ark), Hunyuan and ERNIE (Qianfan) publish CNY only and are converted
 * at 7.2 CNY per USD. They are defaults to start from, not a contract: prices change and
 * differ by region and agreement, so operators should set their own in the YAML
 * `pricing:` section (docs/configuration.md#pricing) or per tenant (`prices` in policies).
 */
export const BUILTIN_PRICES: PriceList = {
  // OpenAI: cached input is a fraction of input; no separate cache-write price (writes bill as input).
  "gpt-5*": p(usd(1.25), usd(10), usd(0.125)),
  "gpt-5-mini*": p(usd(0.25), usd(2), usd(0.025)),
  "gpt-5-nano*": p(usd(0.05), usd(0.4), usd(0.005)),
  "gpt-5-pro*": p(usd(15), usd(120)),
  "gpt-5.1*": p(usd(1.25), usd(10), usd(0.125)),
  "gpt-5.1-codex-mini*": p(usd(0.25), usd(2), usd(0.025)),
  "gpt-5.2*": p(usd(1.75), usd(14), usd(0.175)),
  "gpt-5.4*": p(usd(1.75), usd(14), usd(0.175)),
  "gpt-4.1*": p(usd(2), usd(8), usd(0.5)),
  "gpt-4.1-mini*": p(usd(0.4), usd(1.6), usd(0.1)),
  "gpt-4.1-nano*": p(usd(0.1), usd(0.4), usd(0.025)),
  "gpt-4o*": p(usd(2.5), usd(10), usd(1.25)),
  "gpt-4o-mini*": p(usd(0.15), usd(0.6), usd(0.075)),
  "o1*": p(usd(15), usd(60), usd(7.5)),
  "o3*": p(usd(2), usd(8), usd(0.5)),
  "o3-mini*": p(usd(1.1), usd(4.4), usd(0.55)),
  "o3-pro*": p(usd(20), usd(80)),
  "o4-mini*": p(usd(1.1), usd(4.4), usd(0.275)),
  "codex-mini*": p(usd(1.5), usd(6), usd(0.375)),
  // Anthropic: cache reads at 0.1× input, 5-minute cache writes at 1.25× input.
  "claude-opus-4*": p(usd(15), usd(75), usd(1.5), usd(18.75)),
  "claude-opus-4-5*": p(usd(5), usd(25), usd(0.5), usd(6.25)),
  "claude-sonnet-4*": p(usd(3), usd(15), usd(0.3), usd(3.75)),
  "claude-haiku-4*": p(usd(1), usd(5), usd(0.1), usd(1.25)),
  "claude-3-5-haiku*": p(usd(0.8), usd(4), usd(0.08), usd(1)),
  "claude-3-7-sonnet*": p(usd(3), usd(15), usd(0.3), usd(3.75)),
  // DeepSeek (V3.2, chat and reasoner alike): cache hit / miss.
  "deepseek-*": p(usd(0.28), usd(0.42), usd(0.028)),
  // Alibaba Model Studio (international).
  "qwen*": p(usd(0.4), usd(1.2), usd(0.08)),
  "qwen-max*": p(usd(1.6), usd(6.4), usd(0.32)),
  "qwen3-max*": p(usd(1.2), usd(6), usd(0.24)),
  "qwen-plus*": p(usd(0.4), usd(1.2), usd(0.08)),
  "qwen-turbo*": p(usd(0.05), usd(0.2), usd(0.01)),
  "qwen-flash*": p(usd(0.05), usd(0.4), usd(0.01)),
  "qwen3-coder-plus*": p(usd(1), usd(5), usd(0.1)),
  "qwq-*": p(usd(1.2), usd(4.8)),
  // Volcengine Ark (Doubao), CNY list prices, 0-32k input tier.
  "doubao-*": p(cny(0.8), cny(8), cny(0.16)),
  "doubao-seed-1-6-flash*": p(cny(0.15), cny(1.5), cny(0.03)),
  "doubao-1-5-pro*": p(cny(0.8), cny(2), cny(0.16)),
  // Moonshot (Kimi K2 family): cache hit / miss.
  "kimi-*": p(usd(0.6), usd(2.5), usd(0.15)),
  "kimi-k2-turbo*": p(usd(1.15), usd(8), usd(0.15)),
  "moonshot-*": p(cny(2), cny(10)),
  // Zhipu GLM (Z.ai international).
  "glm-*": p(usd(0.6), usd(2.2), usd(0.11)),
  "glm-4.5-air*": p(usd(0.2), usd(1.1), usd(0.03)),
  "glm-4.5-flash*": p(0, 0),
  // MiniMax M2: cache reads and writes priced separately.
  "MiniMax-*": p(usd(0.3), usd(1.2), usd(0.03), usd(0.375)),
  // Tencent Hunyuan, CNY.
  "hunyuan-*": p(cny(0.8), cny(2)),
  "hunyuan-t1*": p(cny(1), cny(4)),
  // Baidu ERNIE on Qianfan, CNY.
  "ernie-*": p(cny(0.8), cny(3.2)),
  "ernie-4.5-8k*": p(cny(4), cny(16)),
  "ernie-x1*": p(cny(1), cny(4)),
};

const BUILTIN_TABLE = new PriceTable(BUILTIN_PRICES, (pattern) => `${BUILTIN_PRICE_VERSION}/${pattern}`);
