/**
 * OpenAI encrypted reasoning is a Fernet token ("gAAAA…", docs/protocols.md#responses-input-items);
 * anything else is another provider's signature. Only OpenAI blobs may go back
 * to OpenAI as `encrypted_content`, and they must never reach Anthropic (docs/protocols.md#reasoning-signatures).
 */
export function isOpenAIReasoningBlob(signature: string | undefined): signature is string {
  return typeof signature === "string" && signature.startsWith("gAAAA");
}
