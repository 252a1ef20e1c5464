/**
 * Where the requests recorded from real clients live: beside the codec of their
 * wire protocol, in `src/protocols/<name>/__fixtures__/<folder>/` (Claude Code
 * under anthropic-messages, Codex CLI under openai-responses; each folder's
 * README says what it holds). Paths are relative to this file, so they resolve
 * in any checkout. A missing folder or file throws: a test that needs a
 * capture fails, it never skips.
 */
import { fileURLToPath, pathToFileURL } from "node:url";

const PROTOCOL_OF_FOLDER: Readonly<Record<string, string>> = {
  claude: "anthropic-messages",
  "claude-toolcall": "anthropic-messages",
  codex: "openai-responses",
  "codex-toolcall": "openai-responses",
  "codex-websocket": "openai-responses",
};

/** `claude-toolcall` → the absolute path of its folder (with a trailing slash). */
export function captureDir(folder: string): string {
  const protocol = PROTOCOL_OF_FOLDER[folder];
  if (!protocol) throw new Error(`Unknown capture folder '${folder}' (known: ${Object.keys(PROTOCOL_OF_FOLDER).join(", ")}).`);
  return fileURLToPath(new URL(`../protocols/${protocol}/__fixtures__/${folder}/`, import.meta.url));
}

/** `codex/001-POST-v1_responses.json` → the URL of that capture file. */
export function captureUrl(rel: string): URL {
  const slash = rel.indexOf("/");
  if (slash <= 0) throw new Error(`A capture path is '<folder>/<file>', got '${rel}'.`);
  return new URL(rel.slice(slash + 1), pathToFileURL(captureDir(rel.slice(0, slash))));
}
