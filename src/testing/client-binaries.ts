/**
 * The real Codex CLI and Claude Code, as installed from npm at the versions pinned in
 * `e2e/real-clients/package.json` (its own lockfile, so the root `npm ci` never downloads
 * 600 MB of native binaries). `npm test` installs them first when they are missing or stale
 * (`scripts/ensure-clients.mjs`), and `.ci/run` before it; by hand it is the one command in {@link INSTALL_COMMAND}. A missing or mismatched install throws with
 * that command: the end-to-end suite fails, it never skips.
 *
 * What is run, and why:
 * - Codex: `@openai/codex/bin/codex.js` under this Node, the launcher an engineer's `codex`
 *   command is. It has no install script; it finds the native binary in the platform package
 *   npm picked from the optionalDependencies (`@openai/codex-linux-x64`, …) and execs it,
 *   with the bundled `rg` on PATH.
 * - Claude Code: the native binary of the platform package (`@anthropic-ai/claude-code-linux-x64/claude`,
 *   …) directly. The main package's `bin/claude.exe` is a placeholder that its `postinstall`
 *   (`install.cjs`) replaces with that same binary; npm 11 runs no install script that is not
 *   approved, so we install with `--ignore-scripts` and run the binary the script would have
 *   copied. The platform key follows `install.cjs` (`linux-x64`, `linux-x64-musl`, `darwin-arm64`, …).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The folder of the separate package that pins the clients. */
export const CLIENTS_DIR = join(ROOT, "e2e/real-clients");
/** The one command that installs the pinned clients (run from the repository root). */
export const INSTALL_COMMAND = "npm ci --prefix e2e/real-clients --ignore-scripts --no-audit --no-fund";

export interface ClientBinaries {
  /** Argv prefix that runs Codex CLI: `[node, …/codex.js]`. */
  codex: string[];
  /** Argv prefix that runs Claude Code: `[…/claude]`. */
  claude: string[];
  versions: { codex: string; claude: string };
}

function missing(what: string): Error {
  return new Error(
    `${what}\nThe end-to-end suite runs the real Codex CLI and Claude Code at the versions pinned in e2e/real-clients/package.json.\n` +
      `Install them once with:\n\n    ${INSTALL_COMMAND}\n`,
  );
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

/** `linux-x64`, `linux-x64-musl`, `darwin-arm64`, `win32-x64`…: the suffix of Claude Code's platform package (as install.cjs picks it). */
function claudePlatformKey(): string {
  let key = `${process.platform}-${process.arch}`;
  if (process.platform === "linux") {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    if (report && report.header?.glibcVersionRuntime === undefined) key += "-musl";
  }
  return key;
}

/** The pinned clients, or an error naming the install command. Checks the installed versions against the pins. */
export function locateClients(): ClientBinaries {
  const pins = readJson(join(CLIENTS_DIR, "package.json"))?.dependencies as Record<string, string> | undefined;
  if (!pins) throw missing(`${CLIENTS_DIR}/package.json is missing.`);
  const modules = join(CLIENTS_DIR, "node_modules");
  const installed = (name: string): string => {
    const pkg = readJson(join(modules, name, "package.json"));
    if (!pkg) throw missing(`${name} is not installed in e2e/real-clients/node_modules.`);
    const version = String(pkg.version);
    if (version !== pins[name]) throw missing(`${name} ${version} is installed, but ${pins[name]} is pinned.`);
    return version;
  };
  const codexVersion = installed("@openai/codex");
  const claudeVersion = installed("@anthropic-ai/claude-code");
  const claudePlatform = `@anthropic-ai/claude-code-${claudePlatformKey()}`;
  const claudeBin = join(modules, claudePlatform, process.platform === "win32" ? "claude.exe" : "claude");
  if (!existsSync(claudeBin))
    throw missing(`Claude Code's native binary ${claudePlatform} is not installed (npm installs the platform package matching this machine).`);
  return {
    codex: [process.execPath, join(modules, "@openai/codex/bin/codex.js")],
    claude: [claudeBin],
    versions: { codex: codexVersion, claude: claudeVersion },
  };
}
