/**
 * OpenAI encrypted reasoning is a Fernet token ("gAAAA…", PROTOCOLS.md §1.2);
 * anything else is another provider's signature. Only OpenAI blobs may go back
 * to OpenAI as `encrypted_content`, and they must never reach Anthropic (§6.7.6).
 */
export function isOpenAIReasoningBlob(signature: string | undefined): signature is string {
  return typeof signature === "string" && signature.startsWith("gAAAA");
}
