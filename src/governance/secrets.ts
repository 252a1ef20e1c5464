/**
 * Envelope encryption for upstream credentials (docs/architecture.md#secrets): each secret gets
 * its own random 256-bit data key; the data key is wrapped with the master key
 * (AES-256-GCM both times). The master key comes from SWITCHYARD_MASTER_KEY
 * (64 hex chars or base64 of 32 bytes) or from `<data_dir>/master.key`,
 * generated with mode 0600 on first start.
 *
 * Envelope text: `v1.<wrapIv>.<wrappedKey>.<wrapTag>.<iv>.<ciphertext>.<tag>` (base64url parts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

export class SecretBox {
  readonly #master: Buffer;

  constructor(masterKey: Buffer) {
    if (masterKey.length !== 32) throw new Error("master key must be 32 bytes");
    this.#master = masterKey;
  }

  seal(plaintext: string): string {
    const dataKey = randomBytes(32);
    const [wrapIv, wrapped, wrapTag] = gcmEncrypt(this.#master, dataKey);
    const [iv, ct, tag] = gcmEncrypt(dataKey, Buffer.from(plaintext, "utf8"));
    return ["v1", wrapIv, wrapped, wrapTag, iv, ct, tag].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
  }

  open(envelope: string): string {
    const parts = envelope.split(".");
    if (parts.length !== 7 || parts[0] !== "v1") throw new Error("unrecognised secret envelope");
    const [, wrapIv, wrapped, wrapTag, iv, ct, tag] = parts.map((p) => Buffer.from(p, "base64url")) as Buffer[];
    const dataKey = gcmDecrypt(this.#master, wrapIv!, wrapped!, wrapTag!);
    return gcmDecrypt(dataKey, iv!, ct!, tag!).toString("utf8");
  }
}

function gcmEncrypt(key: Buffer, plaintext: Buffer): [Buffer, Buffer, Buffer] {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [iv, ct, cipher.getAuthTag()];
}

function gcmDecrypt(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ct), decipher.final()]);
}

/** Non-secret fingerprint shown by the admin API and logs instead of a credential. */
export function fingerprint(secret: string): string {
  return `sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 16)}`;
}

/** A secret the operator supplied is unusable; the message says which and how to make a good one. */
export class SecretSetupError extends Error {
  override readonly name = "SecretSetupError";
}

export function parseMasterKey(text: string, source = "SWITCHYARD_MASTER_KEY"): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, "hex");
  if (/^[A-Za-z0-9+/]{43}=?$/.test(t)) {
    const b = Buffer.from(t, "base64");
    if (b.length === 32) return b;
  }
  throw new SecretSetupError(`${source} must be 64 hex characters or the base64 of 32 bytes (make one with: openssl rand -hex 32)`);
}

/** Master key from the environment, else from `<dataDir>/master.key` (created on first start). */
export async function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ key: Buffer; source: string }> {
  if (env.SWITCHYARD_MASTER_KEY) return { key: parseMasterKey(env.SWITCHYARD_MASTER_KEY), source: "SWITCHYARD_MASTER_KEY" };
  const path = join(dataDir, "master.key");
  try {
    return { key: parseMasterKey(await readFile(path, "utf8"), path), source: path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(path, key.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  return { key, source: path };
}
