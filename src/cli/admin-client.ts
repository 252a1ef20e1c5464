/**
 * The admin commands talk to a running gateway's admin API over HTTP, so every change
 * goes through the same validation, authorization, audit trail and propagation to the
 * data plane as any other admin call.
 *
 * Where: `--url`, else SWITCHYARD_URL, else the config's server host and port (a
 * wildcard host means this machine). Who: `--token`, else SWITCHYARD_ADMIN_TOKEN, else
 * the token the gateway keeps in `<data_dir>/admin-token`. A manage API key works as a
 * token too: it administers its own account's subtree.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../config/load.js";
import { CliFailure, type CliIo } from "./io.js";

export interface AdminOptions {
  url?: string;
  token?: string;
  json?: boolean;
}

/** Adds the options every admin command takes. */
export function withAdminOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", "the gateway's base URL (default: $SWITCHYARD_URL, then the config's server host and port)")
    .option("--token <token>", "admin token or manage API key (default: $SWITCHYARD_ADMIN_TOKEN, then <data_dir>/admin-token)")
    .option("--json", "print the gateway's JSON answer (for scripts)");
}

export interface AdminClient {
  readonly url: string;
  request(method: string, path: string, body?: unknown): Promise<unknown>;
}

export async function adminClient(io: CliIo, opts: AdminOptions, configPath: string | undefined): Promise<AdminClient> {
  let loaded: Awaited<ReturnType<typeof loadConfig>> | undefined;
  const config = async () => (loaded ??= await loadConfig(configPath, io.env)).config;

  let url = opts.url ?? io.env.SWITCHYARD_URL;
  if (!url) {
    const { host, port } = (await config()).server;
    const reachable = host === "0.0.0.0" || host === "::" || host === "" ? "127.0.0.1" : host;
    url = `http://${reachable.includes(":") ? `[${reachable}]` : reachable}:${port}`;
  }
  if (!/^https?:\/\/[^/]/.test(url)) throw new CliFailure(`--url must be an http:// or https:// URL, got '${url}'`);
  url = url.replace(/\/+$/, "");

  let token = opts.token ?? io.env.SWITCHYARD_ADMIN_TOKEN;
  if (!token) {
    const path = join(resolve((await config()).data_dir), "admin-token");
    token = await readFile(path, "utf8").then(
      (t) => t.trim(),
      () => {
        throw new CliFailure(`no admin token: pass --token, set SWITCHYARD_ADMIN_TOKEN, or run where the gateway keeps ${path}`);
      },
    );
  }
  const bearer = token;
  const base = url;

  return {
    url: base,
    async request(method, path, body) {
      let res: Response;
      try {
        res = await fetch(`${base}/admin/v1${path}`, {
          method,
          headers: { authorization: `Bearer ${bearer}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new CliFailure(`cannot reach the gateway at ${base} (${cause?.code ?? cause?.message ?? (error as Error).message}); is it running? (--url)`);
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = text === "" ? undefined : JSON.parse(text);
      } catch {
        json = undefined;
      }
      if (!res.ok) {
        const e = (json as { error?: { message?: unknown; code?: unknown } } | undefined)?.error;
        const message = typeof e?.message === "string" ? e.message : text.slice(0, 200) || res.statusText;
        throw new CliFailure(`${message} (${typeof e?.code === "string" ? e.code : "http_error"}, HTTP ${res.status})`);
      }
      return json;
    },
  };
}
