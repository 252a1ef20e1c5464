/** `switchyard upstreams add` (the upstream, then each of its keys) and `import-codex` (a ChatGPT login), over the admin API. */
import { readFile } from "node:fs/promises";
import { Option } from "commander";
import { adminClient, withAdminOptions, type AdminOptions } from "./admin-client.js";
import { collect, list, positiveWholeNumber } from "./args.js";
import type { Register } from "./context.js";
import { CliFailure } from "./io.js";
import { printRecord } from "./output.js";

interface AddOptions extends AdminOptions {
  protocol?: string;
  baseUrl?: string;
  models?: string[];
  preset?: string;
  owner?: string;
  key?: string[];
  keyFile?: string;
  disabled?: boolean;
  timeoutMs?: number;
}

export const registerUpstreams: Register = (program, ctx) => {
  const upstreams = program.command("upstreams").description("register upstreams and their credentials");

  withAdminOptions(
    upstreams
      .command("add")
      .description("register an upstream (gateway-wide, or owned by an account with --owner) and add its keys")
      .argument("<name>", "the upstream's name (unique per owner)")
      .addOption(new Option("--protocol <protocol>", "its wire protocol").choices(["openai-responses", "openai-chat", "anthropic", "codex"]))
      .option("--base-url <url>", "its base URL")
      .option("--models <patterns>", "comma-separated model names or patterns it serves", list)
      .option("--preset <name>", "a provider preset that fills protocol, base URL and models (docs/providers.md)")
      .option("--owner <account-id>", "the account that owns it: only that account's subtree uses and sees it")
      .option("--key <credential>", "an upstream credential (repeatable; visible in the process list, prefer --key-file)", collect)
      .option("--key-file <path>", "a file with one credential per line ('-' reads standard input)")
      .option("--timeout-ms <n>", "request timeout", positiveWholeNumber)
      .option("--disabled", "register it disabled"),
  ).action(async (name: string, o: AddOptions) => {
    const credentials = [...(o.key ?? [])];
    if (o.keyFile !== undefined) {
      const text =
        o.keyFile === "-"
          ? await ctx.io.readStdin()
          : await readFile(o.keyFile, "utf8").catch(() => Promise.reject(new CliFailure(`--key-file: cannot read ${o.keyFile}`)));
      credentials.push(
        ...text
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => l !== "" && !l.startsWith("#")),
      );
    }
    const body = {
      name,
      ...(o.protocol ? { protocol: o.protocol } : {}),
      ...(o.baseUrl ? { base_url: o.baseUrl } : {}),
      ...(o.models ? { models: o.models } : {}),
      ...(o.preset ? { preset: o.preset } : {}),
      ...(o.owner ? { owner_account_id: o.owner } : {}),
      ...(o.timeoutMs ? { timeout_ms: o.timeoutMs } : {}),
      ...(o.disabled ? { enabled: false } : {}),
    };
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const upstream = (await api.request("POST", "/upstreams", body)) as { id: string };
    const keys: unknown[] = [];
    for (const [i, key] of credentials.entries()) {
      try {
        keys.push(await api.request("POST", `/upstreams/${encodeURIComponent(upstream.id)}/keys`, { name: `key-${i + 1}`, key }));
      } catch (error) {
        // The upstream stands; say which keys made it so a re-run adds only the rest.
        throw new CliFailure(`upstream ${upstream.id} was created, but key ${i + 1} of ${credentials.length} was refused: ${(error as Error).message}`);
      }
    }
    if (o.json) {
      printRecord(ctx.io, o, { ...upstream, keys });
    } else {
      printRecord(ctx.io, o, upstream, "upstream added");
      for (const k of keys as Array<{ id: string; fingerprint: string }>) ctx.io.out(`key added: ${k.id} (${k.fingerprint})\n`);
    }
  });

  withAdminOptions(
    upstreams
      .command("import-codex")
      .description("add a ChatGPT login (a Codex CLI auth.json) to a codex upstream as a key the gateway keeps fresh (docs/codex.md)")
      .argument("<file>", "the auth.json written by `codex login` ('-' reads standard input); do not use that login in Codex CLI afterwards")
      .requiredOption("--upstream <id>", "the codex upstream's id")
      .option("--name <name>", "the key's name (default: chatgpt-<account id>)"),
  ).action(async (file: string, o: ImportCodexOptions) => {
    const text = file === "-" ? await ctx.io.readStdin() : await readFile(file, "utf8").catch(() => Promise.reject(new CliFailure(`cannot read ${file}`)));
    let auth: unknown;
    try {
      auth = JSON.parse(text);
    } catch {
      // The gateway says what is wrong with it (invalid_codex_auth); the text goes as is.
      auth = text;
    }
    const accountId = readAccountId(auth);
    const api = await adminClient(ctx.io, o, ctx.configPath());
    const key = await api.request("POST", `/upstreams/${encodeURIComponent(o.upstream)}/keys`, {
      name: o.name ?? (accountId ? `chatgpt-${accountId}` : "chatgpt"),
      codex_auth: auth,
    });
    const k = key as { id: string; fingerprint: string; credential?: { account_id?: string; plan_type?: string | null } | null };
    if (o.json) printRecord(ctx.io, o, key);
    else
      ctx.io.out(`login imported: key ${k.id} (${k.fingerprint}), account ${k.credential?.account_id ?? "?"}, plan ${k.credential?.plan_type ?? "unknown"}\n`);
  });
};

interface ImportCodexOptions extends AdminOptions {
  upstream: string;
  name?: string;
}

/** `tokens.account_id` of an auth.json, for the key's default name (the gateway reads the id token itself). */
function readAccountId(auth: unknown): string | undefined {
  if (auth === null || typeof auth !== "object") return undefined;
  const tokens = (auth as { tokens?: unknown }).tokens;
  if (tokens === null || typeof tokens !== "object") return undefined;
  const id = (tokens as { account_id?: unknown }).account_id;
  return typeof id === "string" && /^[A-Za-z0-9._-]{1,64}$/.test(id) ? id : undefined;
}
