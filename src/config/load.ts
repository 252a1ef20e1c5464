/**
 * Loads `switchyard.yaml`: file → `${ENV}` interpolation → YAML → schema → env overrides.
 * A bad file is refused with every problem named by its field path.
 */
import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { configSchema, type ConfigFile } from "./schema.js";

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

export interface LoadedConfig {
  config: ConfigFile;
  /** Absolute path of the file read, or undefined when running on embedded defaults. */
  path: string | undefined;
}

/** `${NAME}` or `${NAME:-default}` in any string value is replaced from the environment. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, where: string, missing: string[]): unknown {
  if (typeof value === "string") {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (v !== undefined && v !== "") return v;
      if (fallback !== undefined) return fallback;
      missing.push(`${where}: environment variable ${name} is not set`);
      return "";
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, `${where}[${i}]`, missing));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, where ? `${where}.${k}` : k, missing);
    return out;
  }
  return value;
}

function formatIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path.length
        ? i.path
            .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
            .join("")
            .replace(/^\./, "")
        : "(root)";
      return `  - ${path}: ${i.message}`;
    })
    .join("\n");
}

/** Applies PORT, HOST, DATABASE_URL, REDIS_URL, SWITCHYARD_DATA_DIR, LOG_LEVEL. */
function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out = { ...raw };
  const server = { ...((out.server as Record<string, unknown> | undefined) ?? {}) };
  if (env.PORT) server.port = Number(env.PORT);
  if (env.HOST) server.host = env.HOST;
  out.server = server;
  if (env.DATABASE_URL) out.database_url = env.DATABASE_URL;
  if (env.REDIS_URL) out.redis_url = env.REDIS_URL;
  if (env.SWITCHYARD_DATA_DIR) out.data_dir = env.SWITCHYARD_DATA_DIR;
  if (env.LOG_LEVEL) out.log_level = env.LOG_LEVEL;
  return out;
}

export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): ConfigFile {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source}: invalid YAML:\n${doc.errors.map((e) => `  - ${e.message}`).join("\n")}`, source);
  }
  const data: unknown = doc.toJS() ?? {};
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(`${source}: the top level must be a mapping of settings`, source);
  }
  const missing: string[] = [];
  const interpolated = interpolate(data, env, "", missing) as Record<string, unknown>;
  if (missing.length > 0) throw new ConfigError(`${source}:\n${missing.map((m) => `  - ${m}`).join("\n")}`, source);
  const parsed = configSchema.safeParse(applyEnv(interpolated, env));
  if (!parsed.success) {
    throw new ConfigError(`${source}: invalid configuration:\n${formatIssues(parsed.error.issues)}`, source);
  }
  return parsed.data;
}

/**
 * Finds the config file: explicit path (--config), then SWITCHYARD_CONFIG, then
 * ./switchyard.yaml if present; otherwise the embedded defaults.
 */
export async function loadConfig(explicitPath?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  const candidate = explicitPath ?? env.SWITCHYARD_CONFIG ?? (existsSync("switchyard.yaml") ? "switchyard.yaml" : undefined);
  if (!candidate) return { config: parseConfig("{}", "(embedded defaults)", env), path: undefined };
  const path = resolve(candidate);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, path);
  }
  return { config: parseConfig(text, path, env), path };
}
