/** Deterministic ids and opaque blobs: a fresh server always hands out the same sequence. */
import { createHash } from "node:crypto";

export class IdSource {
  private n = 0;

  /** `prefix` + "mock" + a zero-padded counter, e.g. `call_mock000000000007`. */
  next(prefix: string): string {
    this.n += 1;
    return `${prefix}mock${String(this.n).padStart(12, "0")}`;
  }
}

function sha256(seed: string, salt: string): Buffer {
  return createHash("sha256").update(salt).update(seed).digest();
}

/**
 * A Fernet-shaped token like OpenAI's reasoning `encrypted_content`: version
 * byte 0x80, 8-byte timestamp, 16-byte IV, ciphertext, 32-byte HMAC, base64url.
 * 105 bytes encode without padding and start with "gAAAAA", which is what
 * gateways test to tell OpenAI blobs from Anthropic signatures.
 */
export function encryptedContent(seed: string): string {
  const ts = Buffer.alloc(8);
  ts.writeUInt32BE(1_700_000_000, 4);
  const iv = sha256(seed, "iv").subarray(0, 16);
  const ct = Buffer.concat([sha256(seed, "c1"), sha256(seed, "c2")]).subarray(0, 48);
  const mac = sha256(seed, "mac");
  return Buffer.concat([Buffer.from([0x80]), ts, iv, ct, mac]).toString("base64url");
}

/** An Anthropic-style thinking signature: standard base64, never starting with "gAAAA". */
export function thinkingSignature(seed: string): string {
  const head = Buffer.from([0x12, 0x98, 0x02, 0x0a]);
  return Buffer.concat([head, sha256(seed, "s1"), sha256(seed, "s2"), sha256(seed, "s3")]).toString("base64");
}
