/**
 * Provider presets: what it takes to reach a known provider, so adding one is a preset
 * name and a key (`preset: deepseek` in YAML, `"preset": "deepseek"` on the admin API).
 * A preset fills `protocol`, `base_url`, `models` and, where the provider's docs settle
 * it, `prompt_cache_key`; whatever the YAML or the request states wins. docs/providers.md
 * lists them with an example each.
 *
 * This is data, kept in canonical/ because both the YAML loader (config/) and the admin
 * service (admin/) read it and neither may import upstream/.
 *
 * `accepts` records whether the provider takes three request fields the gateway may
 * send: true or false only where a document says so (the URLs are in `docs`), null
 * where we found nothing either way. Only `promptCacheKey` changes what the gateway
 * sends today (it becomes the upstream's `prompt_cache_key` setting); the other two are
 * recorded for the routing work that will act on them. `quirks` are parameter
 * differences from the protocol the preset speaks, each from the documents listed.
 * Where the only source found is a third-party integration, the quirk says so.
 */
import type { UpstreamProtocol } from "./protocols.js";

/** How the key is presented; it follows the protocol (upstream/credentials.ts), and a test holds the two together. */
export type AuthStyle = "bearer" | "x-api-key" | "chatgpt-oauth";

export interface ProviderPreset {
  readonly title: string;
  readonly protocol: UpstreamProtocol;
  /** As the official SDKs take it (docs/configuration.md). */
  readonly baseUrl: string;
  readonly auth: AuthStyle;
  /** Model names or patterns the upstream serves unless the configuration lists its own. */
  readonly models: readonly string[];
  readonly accepts: {
    readonly promptCacheKey: boolean | null;
    readonly streamOptions: boolean | null;
    readonly reasoningEffort: boolean | null;
  };
  readonly quirks: readonly string[];
  /** Where the facts above come from. */
  readonly docs: readonly string[];
}

export const PROVIDER_PRESETS = {
  openai: {
    title: "OpenAI (Responses API)",
    protocol: "openai-responses",
    baseUrl: "https://api.openai.com/v1",
    auth: "bearer",
    models: ["gpt-*", "o1*", "o3*", "o4*"],
    accepts: { promptCacheKey: true, streamOptions: true, reasoningEffort: true },
    quirks: ["On the Responses API the effort is `reasoning.effort`; `reasoning_effort` is the Chat Completions spelling."],
    docs: ["https://developers.openai.com/api/docs/guides/prompt-caching", "https://platform.openai.com/docs/api-reference/responses/create"],
  },
  "openai-chat": {
    title: "OpenAI (Chat Completions)",
    protocol: "openai-chat",
    baseUrl: "https://api.openai.com/v1",
    auth: "bearer",
    models: ["gpt-*", "o1*", "o3*", "o4*"],
    accepts: { promptCacheKey: true, streamOptions: true, reasoningEffort: true },
    quirks: [],
    docs: ["https://developers.openai.com/api/docs/guides/prompt-caching", "https://platform.openai.com/docs/api-reference/chat/create"],
  },
  anthropic: {
    title: "Anthropic",
    protocol: "anthropic",
    baseUrl: "https://api.anthropic.com",
    auth: "x-api-key",
    models: ["claude-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: [
      "Every request carries `anthropic-version` (the gateway sends 2023-06-01 when the client sent none).",
      "Caching is explicit, at `cache_control` breakpoints; effort goes through `thinking`, not `reasoning_effort`.",
    ],
    docs: ["https://docs.anthropic.com/en/api/overview", "https://platform.claude.com/docs/en/api/versioning"],
  },
  codex: {
    title: "ChatGPT Codex backend",
    protocol: "codex",
    baseUrl: "https://chatgpt.com/backend-api/codex",
    auth: "chatgpt-oauth",
    models: ["gpt-5*", "codex-*"],
    accepts: { promptCacheKey: true, streamOptions: null, reasoningEffort: true },
    quirks: [
      "Needs the ChatGPT account id (`account_id`, sent as `chatgpt-account-id`) and a ChatGPT OAuth access token as the key.",
      "Answers only as a stream and requires `store: false` and `instructions`; the gateway applies these rules (docs/protocols.md).",
    ],
    docs: ["docs/protocols.md"],
  },
  "volcengine-ark": {
    title: "Volcengine Ark (Doubao and hosted models)",
    protocol: "openai-chat",
    baseUrl: "https://ark.cn-beijing.volces.com/api/v3",
    auth: "bearer",
    models: ["doubao-*", "deepseek-*", "kimi-*", "ep-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "`model` is a model ID or an inference endpoint ID (`ep-…`); a model must be activated in the Ark console before use.",
      "On Ark's Responses API `max_output_tokens` counts reasoning and answer, `max_tokens` the answer alone (third-party SDK doc).",
    ],
    docs: [
      "https://www.volcengine.com/docs/82379/1263482",
      "https://cloudwego.io/docs/eino/ecosystem/chat_model/chat_model_ark",
      "https://yulab-smu.top/aisdk/reference/create_volcengine.html",
    ],
  },
  dashscope: {
    title: "Alibaba Cloud Model Studio / DashScope (OpenAI-compatible mode)",
    protocol: "openai-chat",
    baseUrl: "https://dashscope.aliyuncs.com/compatible-mode/v1",
    auth: "bearer",
    models: ["qwen*", "qwq-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "Keys are per region: Beijing uses dashscope.aliyuncs.com, Singapore dashscope-intl.aliyuncs.com (override `base_url`).",
      "The native DashScope API (/api/v1/services/…) is a different protocol; only `compatible-mode/v1` speaks OpenAI Chat.",
      "Qwen3 thinking is switched with `enable_thinking` in the body, not `reasoning_effort` (third-party integration code).",
    ],
    docs: [
      "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
      "https://help.aliyun.com/zh/model-studio/compatibility-of-openai-with-dashscope",
    ],
  },
  qianfan: {
    title: "Baidu Qianfan (ModelBuilder V2)",
    protocol: "openai-chat",
    baseUrl: "https://qianfan.baidubce.com/v2",
    auth: "bearer",
    models: ["ernie-*", "deepseek-*", "qwen*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: ["The V2 API takes a Bearer API key of the form `bce-v3/ALTAK-…`; the older AK/SK signature scheme does not apply."],
    docs: ["https://cloud.baidu.com/doc/qianfan/s/rmh4stn9m", "https://cloud.baidu.com/doc/qianfan/s/qmh4sv5vi"],
  },
  hunyuan: {
    title: "Tencent Hunyuan (OpenAI-compatible)",
    protocol: "openai-chat",
    baseUrl: "https://api.hunyuan.cloud.tencent.com/v1",
    auth: "bearer",
    models: ["hunyuan-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "Search augmentation is a body extension (`enable_enhancement`, `citation`, `search_info`), off unless asked (third-party integration code).",
      "Tencent's TRTC docs name https://hunyuan.cloud.tencent.com/openai/v1 as the OpenAI-compatible endpoint; set `base_url` to it if the default does not answer for your account.",
      "The Tencent Cloud API form (SecretId/SecretKey signatures) is a different protocol and not supported.",
    ],
    docs: ["https://cloud.tencent.com/document/product/1729/104753", "https://www.tencentcloud.com/document/product/647/79679"],
  },
  minimax: {
    title: "MiniMax (OpenAI-compatible)",
    protocol: "openai-chat",
    baseUrl: "https://api.minimax.io/v1",
    auth: "bearer",
    models: ["MiniMax-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "Mainland China accounts use https://api.minimaxi.com/v1.",
      "Over /v1 most M-series models return their reasoning inline in `content`, wrapped in <think> tags; the Anthropic-compatible endpoint separates it (see minimax-anthropic).",
    ],
    docs: ["https://platform.minimax.io/docs/api-reference/text-openai-api", "https://www.developersdigest.tech/reference/api-compatibility/minimax"],
  },
  "minimax-anthropic": {
    title: "MiniMax (Anthropic-compatible)",
    protocol: "anthropic",
    baseUrl: "https://api.minimax.io/anthropic",
    auth: "x-api-key",
    models: ["MiniMax-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: ["Mainland China accounts use https://api.minimaxi.com/anthropic.", "Only MiniMax's recent M models are served on this endpoint."],
    docs: ["https://www.developersdigest.tech/reference/api-compatibility/minimax"],
  },
  zhipu: {
    title: "Zhipu GLM (BigModel, OpenAI-compatible)",
    protocol: "openai-chat",
    baseUrl: "https://open.bigmodel.cn/api/paas/v4",
    auth: "bearer",
    models: ["glm-*"],
    accepts: { promptCacheKey: null, streamOptions: false, reasoningEffort: null },
    quirks: [
      "International accounts (Z.ai) use https://api.z.ai/api/paas/v4; the GLM Coding Plan uses …/api/coding/paas/v4.",
      "Only `tool_choice: auto`; `response_format` only `json_object`; `max_tokens`, not `max_completion_tokens` (third-party integration docs).",
      "`stream_options` is listed among fields GLM does not support (third-party); GLM-4.7 and GLM-5 think by default.",
    ],
    docs: ["https://docs.bigmodel.cn", "https://java.agentscope.io/v2/en/integration/model/glm", "https://docs.bigmodel.cn/cn/coding-plan/overview"],
  },
  "zhipu-anthropic": {
    title: "Zhipu GLM (Anthropic-compatible, for Claude Code)",
    protocol: "anthropic",
    baseUrl: "https://open.bigmodel.cn/api/anthropic",
    auth: "x-api-key",
    models: ["glm-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: [
      "International accounts use https://api.z.ai/api/anthropic (third-party launcher script; Zhipu's coding-plan docs describe the Claude Code setup).",
    ],
    docs: ["https://docs.bigmodel.cn/cn/coding-plan/overview"],
  },
  moonshot: {
    title: "Moonshot Kimi (OpenAI-compatible)",
    protocol: "openai-chat",
    baseUrl: "https://api.moonshot.ai/v1",
    auth: "bearer",
    models: ["kimi-*", "moonshot-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "Mainland China accounts use https://api.moonshot.cn/v1.",
      "Thinking models want the earlier assistant tool-call turns sent back with their `reasoning_content`, or answer 'thinking is enabled but reasoning_content is missing'.",
      "`thinking` is a body extension (the SDK's extra_body), not `reasoning_effort`.",
    ],
    docs: [
      "https://platform.kimi.ai/docs/api/overview",
      "https://platform.moonshot.ai/docs/guide/use-kimi-k2-thinking-model",
      "https://www.developersdigest.tech/reference/api-compatibility/moonshot",
    ],
  },
  "moonshot-anthropic": {
    title: "Moonshot Kimi (Anthropic-compatible)",
    protocol: "anthropic",
    baseUrl: "https://api.moonshot.ai/anthropic",
    auth: "x-api-key",
    models: ["kimi-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: ["The value Claude Code takes as ANTHROPIC_BASE_URL; same keys as the OpenAI-compatible endpoint."],
    docs: ["https://platform.kimi.ai/docs/api/overview", "https://www.developersdigest.tech/reference/api-compatibility/moonshot"],
  },
  "kimi-code": {
    title: "Kimi Code subscription (Anthropic-compatible coding endpoint)",
    protocol: "anthropic",
    baseUrl: "https://api.kimi.com/coding",
    auth: "x-api-key",
    models: ["kimi-for-coding", "kimi-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: [
      "Kimi Code membership keys, not Moonshot platform keys; the model is `kimi-for-coding`.",
      "An OpenAI-compatible form lives at https://api.kimi.com/coding/v1 (third-party docs; use `preset: kimi-code` with `protocol: openai-chat` and that `base_url`).",
    ],
    docs: ["https://www.kimi.com/coding/docs/en/third-party-agents.html", "https://mastra.ai/models/providers/kimi-for-coding"],
  },
  deepseek: {
    title: "DeepSeek (OpenAI-compatible)",
    protocol: "openai-chat",
    baseUrl: "https://api.deepseek.com",
    auth: "bearer",
    models: ["deepseek-*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: ["`https://api.deepseek.com/v1` works too; that v1 has nothing to do with model versions."],
    docs: ["https://api-docs.deepseek.com/", "https://share.apidog.com/apidoc/docs-site/747793"],
  },
  "deepseek-anthropic": {
    title: "DeepSeek (Anthropic-compatible, for Claude Code)",
    protocol: "anthropic",
    baseUrl: "https://api.deepseek.com/anthropic",
    auth: "x-api-key",
    models: ["deepseek-*"],
    accepts: { promptCacheKey: false, streamOptions: false, reasoningEffort: false },
    quirks: [
      "Claude names are mapped server-side (`claude-opus*` to deepseek-v4-pro, other `claude*` to the flash model); an unknown name not starting with `claude` is a 400.",
      "`anthropic-beta` and `anthropic-version` are ignored on /messages; of `metadata` only `user_id` is kept.",
    ],
    docs: ["https://api-docs.deepseek.com/guides/anthropic_api"],
  },
  openrouter: {
    title: "OpenRouter",
    protocol: "openai-chat",
    baseUrl: "https://openrouter.ai/api/v1",
    auth: "bearer",
    models: ["*/*"],
    accepts: { promptCacheKey: null, streamOptions: null, reasoningEffort: null },
    quirks: [
      "Model names carry the vendor: `anthropic/claude-sonnet-4.5`, `openai/gpt-5`.",
      "Reasoning is OpenRouter's own `reasoning` object; caching is implicit or Anthropic-style `cache_control`, with sticky provider routing after a cached request.",
      "Optional attribution headers `HTTP-Referer` and `X-Title` (set them under `headers`).",
    ],
    docs: ["https://openrouter.ai/docs/guides/best-practices/prompt-caching", "https://docs.getbifrost.ai/providers/supported-providers/openrouter"],
  },
} as const satisfies Record<string, ProviderPreset>;

export type PresetName = keyof typeof PROVIDER_PRESETS;

export const PRESET_NAMES = Object.keys(PROVIDER_PRESETS) as [PresetName, ...PresetName[]];

export function presetNamed(name: string): ProviderPreset | undefined {
  return Object.hasOwn(PROVIDER_PRESETS, name) ? (PROVIDER_PRESETS as Record<string, ProviderPreset>)[name] : undefined;
}

/**
 * An upstream definition (snake_case, as YAML and the admin API spell it) with its
 * preset's defaults filled in where it states nothing. Returns the definition unchanged
 * without a `preset`, and a reason when the preset is unknown.
 */
export function withPresetDefaults(def: Readonly<Record<string, unknown>>): Record<string, unknown> | string {
  const name = def.preset;
  if (name === undefined) return { ...def };
  if (typeof name !== "string") return "preset must be a string";
  const p = presetNamed(name);
  if (!p) return `unknown preset '${name}' (known: ${PRESET_NAMES.join(", ")})`;
  const out: Record<string, unknown> = { ...def };
  out.protocol ??= p.protocol;
  out.base_url ??= p.baseUrl;
  out.models ??= [...p.models];
  // Only a preset whose provider documents the field decides it; otherwise the protocol's default applies.
  if (out.prompt_cache_key === undefined && p.protocol !== "anthropic" && p.accepts.promptCacheKey !== null) out.prompt_cache_key = p.accepts.promptCacheKey;
  return out;
}
