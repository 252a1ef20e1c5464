/**
 * Envelope encryption for upstream credentials (docs/architecture.md#secrets): each secret gets
 * its own random 256-bit data key; the data key is wrapped with a master key (AES-256-GCM
 * both times).
 *
 * Master keys form a keyring: the current key seals and re-wraps; previous keys only open,
 * so a master key can be rotated while gateways keep serving (docs/deployment.md#rotating-the-master-key).
 * The current key comes from SWITCHYARD_MASTER_KEY (64 hex chars or base64 of 32 bytes) or
 * from `<data_dir>/master.key`, generated with mode 0600 on first start; previous keys from
 * SWITCHYARD_MASTER_KEY_PREVIOUS (comma-separated) or `<data_dir>/master.key.previous`
 * (one a line).
 *
 * Envelope text (base64url parts):
 * - `v2.<keyId>.<wrapIv>.<wrappedKey>.<wrapTag>.<iv>.<ciphertext>.<tag>`: `keyId` names the
 *   master key that wrapped the data key ({@link masterKeyId}); the wrap is bound to it
 *   (GCM additional data), so a relabelled envelope does not open.
 * - `v1.<wrapIv>.<wrappedKey>.<wrapTag>.<iv>.<ciphertext>.<tag>`: before key ids; opened by
 *   trying each master key in the ring (GCM's tag tells the right one), re-wrapped to v2 by
 *   `switchyard keys rotate-master`.
 * Re-wrapping changes only the wrapped data key; the credential's own ciphertext stays.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** A short public name for a master key: the first 16 hex digits of a domain-separated SHA-256 of it. */
export function masterKeyId(key: Buffer): string {
  return createHash("sha256").update("switchyard master key id\0").update(key).digest("hex").slice(0, 16);
}

/** An envelope names a master key the ring does not hold (or none of the ring opens a v1 envelope). */
export class UnknownMasterKeyError extends Error {
  override readonly name = "UnknownMasterKeyError";
}

interface DataKeyWrap {
  /** The master key id of a v2 envelope; undefined for v1. */
  keyId: string | undefined;
  wrapIv: Buffer;
  wrapped: Buffer;
  wrapTag: Buffer;
  /** The credential's own parts, carried over untouched by a re-wrap. */
  rest: [string, string, string];
}

export class SecretBox {
  readonly #current: { id: string; key: Buffer };
  readonly #ring: Map<string, Buffer>;

  /** `current` seals; `previous` keys only open (and are re-wrapped away from by {@link rewrap}). */
  constructor(current: Buffer, previous: readonly Buffer[] = []) {
    for (const k of [current, ...previous]) if (k.length !== 32) throw new Error("master key must be 32 bytes");
    this.#current = { id: masterKeyId(current), key: current };
    this.#ring = new Map([[this.#current.id, current]]);
    for (const k of previous) if (!this.#ring.has(masterKeyId(k))) this.#ring.set(masterKeyId(k), k);
  }

  /** The id envelopes sealed now carry. */
  get currentKeyId(): string {
    return this.#current.id;
  }

  /** Every key id this box opens, the current one first. */
  get keyIds(): string[] {
    return [...this.#ring.keys()];
  }

  seal(plaintext: string): string {
    const dataKey = randomBytes(32);
    const [iv, ct, tag] = gcmEncrypt(dataKey, Buffer.from(plaintext, "utf8"));
    return this.#wrap(dataKey, [iv, ct, tag].map((b) => b.toString("base64url")) as [string, string, string]);
  }

  open(envelope: string): string {
    const parsed = parseEnvelope(envelope);
    const dataKey = this.#unwrap(parsed);
    const [iv, ct, tag] = parsed.rest.map((p) => Buffer.from(p, "base64url")) as [Buffer, Buffer, Buffer];
    return gcmDecrypt(dataKey, iv, ct, tag).toString("utf8");
  }

  /** The master key id an envelope names (undefined for a v1 envelope, which names none). */
  keyIdOf(envelope: string): string | undefined {
    return parseEnvelope(envelope).keyId;
  }

  /**
   * The envelope with its data key wrapped by the current master key, or undefined when it
   * already is (so a re-run changes nothing). The credential's ciphertext is carried over as is.
   */
  rewrap(envelope: string): string | undefined {
    const parsed = parseEnvelope(envelope);
    if (parsed.keyId === this.#current.id) return undefined;
    return this.#wrap(this.#unwrap(parsed), parsed.rest);
  }

  #wrap(dataKey: Buffer, rest: [string, string, string]): string {
    const id = this.#current.id;
    const [wrapIv, wrapped, wrapTag] = gcmEncrypt(this.#current.key, dataKey, aad(id));
    return ["v2", id, ...[wrapIv, wrapped, wrapTag].map((b) => b.toString("base64url")), ...rest].join(".");
  }

  #unwrap(p: DataKeyWrap): Buffer {
    if (p.keyId !== undefined) {
      const key = this.#ring.get(p.keyId);
      if (!key) {
        throw new UnknownMasterKeyError(
          `the credential was sealed under master key ${p.keyId}, which this process does not hold (it holds ${this.keyIds.join(", ")}); ` +
            "set SWITCHYARD_MASTER_KEY_PREVIOUS to that key (docs/deployment.md#rotating-the-master-key)",
        );
      }
      return gcmDecrypt(key, p.wrapIv, p.wrapped, p.wrapTag, aad(p.keyId));
    }
    for (const key of this.#ring.values()) {
      try {
        return gcmDecrypt(key, p.wrapIv, p.wrapped, p.wrapTag);
      } catch {
        // Not this key: GCM's tag does not verify. Try the next.
      }
    }
    throw new UnknownMasterKeyError(
      `no master key this process holds (${this.keyIds.join(", ")}) opens the credential; set SWITCHYARD_MASTER_KEY_PREVIOUS to the key it was sealed under`,
    );
  }
}

const aad = (keyId: string): Buffer => Buffer.from(`switchyard/v2/${keyId}`);

function parseEnvelope(envelope: string): DataKeyWrap {
  const parts = envelope.split(".");
  if (parts[0] === "v2" && parts.length === 8) {
    const [, keyId, wrapIv, wrapped, wrapTag, iv, ct, tag] = parts as [string, string, string, string, string, string, string, string];
    return { keyId, ...wrapParts(wrapIv, wrapped, wrapTag), rest: [iv, ct, tag] };
  }
  if (parts[0] === "v1" && parts.length === 7) {
    const [, wrapIv, wrapped, wrapTag, iv, ct, tag] = parts as [string, string, string, string, string, string, string];
    return { keyId: undefined, ...wrapParts(wrapIv, wrapped, wrapTag), rest: [iv, ct, tag] };
  }
  throw new Error("unrecognised secret envelope");
}

function wrapParts(wrapIv: string, wrapped: string, wrapTag: string): Pick<DataKeyWrap, "wrapIv" | "wrapped" | "wrapTag"> {
  return { wrapIv: Buffer.from(wrapIv, "base64url"), wrapped: Buffer.from(wrapped, "base64url"), wrapTag: Buffer.from(wrapTag, "base64url") };
}

function gcmEncrypt(key: Buffer, plaintext: Buffer, additional?: Buffer): [Buffer, Buffer, Buffer] {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  if (additional) cipher.setAAD(additional);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [iv, ct, cipher.getAuthTag()];
}

function gcmDecrypt(key: Buffer, iv: Buffer, ct: Buffer, tag: Buffer, additional?: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  if (additional) decipher.setAAD(additional);
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

/** Previous master keys from text: separated by commas or line breaks; blank lines and `#` comments skipped. */
export function parsePreviousKeys(text: string, source: string): Buffer[] {
  const items = text
    .split(/[,\n]/)
    .map((line) => line.replace(/#.*$/, "").trim())
    .filter((line) => line !== "");
  return items.map((item, i) => parseMasterKey(item, items.length > 1 ? `${source} (entry ${i + 1})` : source));
}

/** Master key from the environment, else from `<dataDir>/master.key` (created on first start unless `create` is false). */
export async function loadMasterKey(dataDir: string, env: NodeJS.ProcessEnv = process.env, create = true): Promise<{ key: Buffer; source: string }> {
  if (env.SWITCHYARD_MASTER_KEY) return { key: parseMasterKey(env.SWITCHYARD_MASTER_KEY), source: "SWITCHYARD_MASTER_KEY" };
  const path = join(dataDir, "master.key");
  try {
    return { key: parseMasterKey(await readFile(path, "utf8"), path), source: path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (!create) throw new SecretSetupError(`no master key: set SWITCHYARD_MASTER_KEY or create ${path}`);
  }
  await mkdir(dataDir, { recursive: true });
  const key = randomBytes(32);
  await writeFile(path, key.toString("hex") + "\n", { mode: 0o600, flag: "wx" });
  return { key, source: path };
}

/** Previous master keys: SWITCHYARD_MASTER_KEY_PREVIOUS, else `<dataDir>/master.key.previous`, else none. */
export async function loadPreviousMasterKeys(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ keys: Buffer[]; source: string | undefined }> {
  if (env.SWITCHYARD_MASTER_KEY_PREVIOUS) {
    return { keys: parsePreviousKeys(env.SWITCHYARD_MASTER_KEY_PREVIOUS, "SWITCHYARD_MASTER_KEY_PREVIOUS"), source: "SWITCHYARD_MASTER_KEY_PREVIOUS" };
  }
  const path = join(dataDir, "master.key.previous");
  try {
    return { keys: parsePreviousKeys(await readFile(path, "utf8"), path), source: path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    return { keys: [], source: undefined };
  }
}

/** Checks the master-key variables' syntax before anything is written, so a typo fails fast with one line. */
export function checkMasterKeyEnv(env: NodeJS.ProcessEnv): void {
  if (env.SWITCHYARD_MASTER_KEY) parseMasterKey(env.SWITCHYARD_MASTER_KEY);
  if (env.SWITCHYARD_MASTER_KEY_PREVIOUS) parsePreviousKeys(env.SWITCHYARD_MASTER_KEY_PREVIOUS, "SWITCHYARD_MASTER_KEY_PREVIOUS");
}

/** The keyring a process runs with: the current master key (created on first start when `create`) and the previous ones. */
export async function loadKeyring(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  create = true,
): Promise<{ box: SecretBox; source: string; previousSource: string | undefined }> {
  checkMasterKeyEnv(env);
  const current = await loadMasterKey(dataDir, env, create);
  const previous = await loadPreviousMasterKeys(dataDir, env);
  return { box: new SecretBox(current.key, previous.keys), source: current.source, previousSource: previous.source };
}
