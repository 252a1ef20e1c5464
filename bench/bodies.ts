/**
 * OpenAI Chat request bodies for the benchmark, built deterministically so every
 * process (runner, load generator) makes the same bytes.
 *
 * The real-size body follows the shape of the Codex CLI capture in
 * src/protocols/openai-responses/__fixtures__/codex (a big instructions prompt, an environment
 * block in two parts, a short user turn, a tiny follow-up, ~17 KB of tool
 * schemas) — the sizes are taken from it, the text is generated: mostly ASCII
 * with accented Latin and CJK mixed in, because one non-ASCII byte is enough to
 * put Node's buffer-to-string decoding on its slow path (docs/architecture.md#measured-facts).
 */

export type BodySize = "40k" | "1k";

export interface ChatBodyOptions {
  size: BodySize;
  stream: boolean;
  model: string;
  /** A stream asks for usage (`stream_options.include_usage`) unless this is false. */
  includeUsage?: boolean;
}

export interface BuiltBody {
  bytes: Buffer;
  /** UTF-8 bytes that are not ASCII, to show the body is not on the fast path. */
  nonAsciiBytes: number;
}

/** Text sizes (bytes) of the Codex capture's instructions / environment parts / user turns. */
const CODEX_SHAPE = { instructions: 16_979, environment: [2_139, 341], user: 443, followUp: 6 } as const;
/** JSON sizes of the Codex capture's function tools (its hosted web_search tool has no Chat form). */
const CODEX_TOOL_SIZES = [1_564, 784, 1_349, 371, 9_883, 281, 759, 2_163] as const;
const TOOL_NAMES = ["run_command", "send_input", "ask_user", "open_image", "delegate_task", "read_goal", "set_goal", "revise_goal"] as const;
const TARGET_BYTES: Readonly<Record<BodySize, number>> = { "40k": 40_000, "1k": 1_024 };

const ASCII_WORDS = (
  "the repository function module test config request response stream token cache build check " +
  "value error retry upstream gateway account model route header body buffer parse encode decode " +
  "file path command output input review patch commit branch merge deploy schema field limit"
).split(" ");
const ACCENTED_WORDS = ["café", "naïve", "résumé", "Größe", "señal", "déjà", "über", "façade", "crème", "Ærø", "ção", "żółw"];
const CJK_WORDS = ["配置文件", "测试用例", "函数", "仓库", "日本語の説明", "エラー処理", "한국어", "缓存命中", "请求体", "模型"];

/** mulberry32: a tiny seeded PRNG, so bodies are identical across processes and runs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(list: readonly T[], r: () => number): T {
  return list[Math.floor(r() * list.length)] as T;
}

/** Mixed-script prose of about `bytes` UTF-8 bytes (never more). */
export function mixedText(bytes: number, seed: number): string {
  const r = rng(seed);
  const parts: string[] = [];
  let used = 0;
  let sinceBreak = 0;
  while (used < bytes) {
    const roll = r();
    const word = roll < 0.8 ? pick(ASCII_WORDS, r) : roll < 0.92 ? pick(ACCENTED_WORDS, r) : pick(CJK_WORDS, r);
    sinceBreak++;
    const sep = used === 0 ? "" : sinceBreak > 14 && r() < 0.2 ? ((sinceBreak = 0), ".\n") : " ";
    const piece = sep + word;
    const size = Buffer.byteLength(piece);
    if (used + size > bytes) break;
    parts.push(piece);
    used += size;
  }
  const text = parts.join("");
  return text + "x".repeat(bytes - Buffer.byteLength(text));
}

interface ChatTool {
  type: "function";
  function: {
    name: string;
    description: string;
    parameters: { type: "object"; properties: Record<string, { type: string; description: string }>; required: string[] };
  };
}

/** A function tool whose JSON is about `bytes` long. */
function tool(name: string, bytes: number, seed: number): ChatTool {
  const t: ChatTool = {
    type: "function",
    function: { name, description: mixedText(Math.floor(bytes * 0.3), seed), parameters: { type: "object", properties: {}, required: [] } },
  };
  const { properties, required } = t.function.parameters;
  for (let i = 0; Buffer.byteLength(JSON.stringify(t)) < bytes - 60; i++) {
    const prop = `arg_${i}`;
    properties[prop] = { type: i % 3 === 0 ? "number" : "string", description: mixedText(Math.min(160, bytes), seed + 101 * (i + 1)) };
    if (i % 2 === 0) required.push(prop);
  }
  return t;
}

function chatBody(o: ChatBodyOptions, extra: number): Record<string, unknown> {
  const base = {
    model: o.model,
    stream: o.stream,
    ...(o.stream && o.includeUsage !== false ? { stream_options: { include_usage: true } } : {}),
  };
  if (o.size === "1k") {
    return {
      ...base,
      messages: [
        { role: "system", content: mixedText(300 + extra, 11) },
        { role: "user", content: mixedText(560, 12) },
      ],
    };
  }
  return {
    ...base,
    messages: [
      { role: "system", content: mixedText(CODEX_SHAPE.instructions + extra, 21) },
      { role: "developer", content: CODEX_SHAPE.environment.map((n, i) => ({ type: "text", text: mixedText(n, 22 + i) })) },
      { role: "user", content: mixedText(CODEX_SHAPE.user, 24) },
      { role: "user", content: mixedText(CODEX_SHAPE.followUp, 25) },
    ],
    tools: CODEX_TOOL_SIZES.map((n, i) => tool(TOOL_NAMES[i] ?? `tool_${i}`, n, 31 + i)),
    tool_choice: "auto",
    parallel_tool_calls: true,
  };
}

/** The body for `o`, padded in its first (system) message to the size's byte target. */
export function buildChatBody(o: ChatBodyOptions): BuiltBody {
  const first = Buffer.byteLength(JSON.stringify(chatBody(o, 0)));
  const bytes = Buffer.from(JSON.stringify(chatBody(o, Math.max(0, TARGET_BYTES[o.size] - first))));
  let nonAsciiBytes = 0;
  for (const b of bytes) if (b > 0x7f) nonAsciiBytes++;
  return { bytes, nonAsciiBytes };
}
