/**
 * An error an upstream sent with a 2xx status. Some OpenAI-compatible
 * providers and proxies answer `200 {"error": {…}}`; Anthropic's envelope is
 * `{"type": "error", "error": {…}}`; a Responses object can come back with
 * `status: "failed"` and its `error` filled
 * (https://platform.openai.com/docs/api-reference/responses/object). A success
 * never carries a non-null `error` object, so its presence is enough.
 */
export interface AnswerError {
  message: string;
  /** The upstream's own error type or code, for logs. */
  code: string | undefined;
}

export function errorInAnswer(json: unknown): AnswerError | undefined {
  if (!json || typeof json !== "object" || Array.isArray(json)) return undefined;
  const o = json as Record<string, unknown>;
  const err = o.error;
  if (err === null || err === undefined) return o.type === "error" ? { message: "The upstream answered with an error.", code: undefined } : undefined;
  if (typeof err === "string") return { message: err, code: undefined };
  if (typeof err !== "object") return undefined;
  const e = err as Record<string, unknown>;
  const message = typeof e.message === "string" && e.message ? e.message : "The upstream answered with an error.";
  const code = typeof e.code === "string" ? e.code : typeof e.type === "string" ? e.type : undefined;
  return { message, code };
}
