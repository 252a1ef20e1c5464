/**
 * Gateway API keys. Generated keys look like `sy_<8 hex prefix>_<32 base62>`;
 * only the SHA-256 of the whole key is stored, with the non-secret prefix as
 * the lookup index. Keys are high-entropy, so a fast hash is the right tool
 * (a password KDF would only slow the hot path).
 *
 * Keys declared in YAML may have any shape (≥16 chars); their lookup prefix is
 * derived from the hash instead (`h_<12 hex>`).
 */
import { hash, randomBytes, timingSafeEqual } from "node:crypto";

const GENERATED = /^sy_([0-9a-f]{8})_[0-9A-Za-z]{32}$/;
const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function hashKey(secret: string): string {
  return hash("sha256", secret, "hex");
}

/** The lookup prefix of a presented key; no I/O, no allocation beyond the hash for foreign keys. */
export function keyPrefix(secret: string, hash?: string): string {
  const m = GENERATED.exec(secret);
  if (m) return `sy_${m[1]}`;
  return `h_${(hash ?? hashKey(secret)).slice(0, 12)}`;
}

export function generateKey(): { secret: string; prefix: string; hash: string } {
  const prefixHex = randomBytes(4).toString("hex");
  const bytes = randomBytes(32);
  let body = "";
  for (const b of bytes) body += ALPHABET[b % 62];
  const secret = `sy_${prefixHex}_${body}`;
  return { secret, prefix: `sy_${prefixHex}`, hash: hashKey(secret) };
}

export function hashesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, "hex"), Buffer.from(b, "hex"));
}

/** A generated admin token: not an account key, so it has its own shape. */
export function generateAdminToken(): string {
  return `sya_${randomBytes(24).toString("base64url")}`;
}
