import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKeyring, masterKeyId, SecretBox, SecretSetupError, UnknownMasterKeyError } from "./secrets.js";

const OLD = randomBytes(32);
const NEW = randomBytes(32);

/** A v1 envelope as the gateway wrote them before key ids (same construction, no id, no additional data). */
async function legacyEnvelope(master: Buffer, plaintext: string): Promise<string> {
  const { createCipheriv } = await import("node:crypto");
  const enc = (key: Buffer, data: Buffer): Buffer[] => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, iv);
    const ct = Buffer.concat([c.update(data), c.final()]);
    return [iv, ct, c.getAuthTag()];
  };
  const dataKey = randomBytes(32);
  return ["v1", ...enc(master, dataKey), ...enc(dataKey, Buffer.from(plaintext))].map((p) => (typeof p === "string" ? p : p.toString("base64url"))).join(".");
}

describe("secret keyring", () => {
  it("seals under the current key, naming it, and opens under any key of the ring", () => {
    const before = new SecretBox(OLD);
    const sealedOld = before.seal("sk-one");
    expect(sealedOld.split(".").slice(0, 2)).toEqual(["v2", masterKeyId(OLD)]);
    const during = new SecretBox(NEW, [OLD]);
    expect(during.open(sealedOld)).toBe("sk-one");
    const sealedNew = during.seal("sk-two");
    expect(during.keyIdOf(sealedNew)).toBe(masterKeyId(NEW));
    expect(new SecretBox(NEW).open(sealedNew)).toBe("sk-two");
  });

  it("names the missing master key when an envelope's key is not in the ring", () => {
    const sealed = new SecretBox(OLD).seal("sk-x");
    expect(() => new SecretBox(NEW).open(sealed)).toThrow(UnknownMasterKeyError);
    expect(() => new SecretBox(NEW).open(sealed)).toThrow(`master key ${masterKeyId(OLD)}`);
  });

  it("re-wraps only the data key: the credential's ciphertext stays, and a second re-wrap changes nothing", () => {
    const sealed = new SecretBox(OLD).seal("sk-keep");
    const during = new SecretBox(NEW, [OLD]);
    const rewrapped = during.rewrap(sealed)!;
    expect(rewrapped.split(".").slice(5)).toEqual(sealed.split(".").slice(5));
    expect(during.keyIdOf(rewrapped)).toBe(masterKeyId(NEW));
    expect(new SecretBox(NEW).open(rewrapped)).toBe("sk-keep");
    expect(during.rewrap(rewrapped)).toBeUndefined();
  });

  it("opens and re-wraps envelopes written before key ids (v1)", async () => {
    const legacy = await legacyEnvelope(OLD, "sk-legacy");
    expect(new SecretBox(NEW, [OLD]).open(legacy)).toBe("sk-legacy");
    const rewrapped = new SecretBox(NEW, [OLD]).rewrap(legacy)!;
    expect(rewrapped.split(".").slice(5)).toEqual(legacy.split(".").slice(4));
    expect(new SecretBox(NEW).open(rewrapped)).toBe("sk-legacy");
    // Even under the current key, a v1 envelope is re-wrapped once, to gain its key id.
    expect(new SecretBox(OLD).rewrap(legacy)).toMatch(/^v2\./);
    expect(() => new SecretBox(NEW).open(legacy)).toThrow(UnknownMasterKeyError);
  });

  it("refuses a relabelled envelope: the wrap is bound to its key id", () => {
    const sealed = new SecretBox(OLD).seal("sk-x").split(".");
    sealed[1] = masterKeyId(NEW);
    expect(() => new SecretBox(NEW, [OLD]).open(sealed.join("."))).toThrow();
  });

  it("loads previous keys from SWITCHYARD_MASTER_KEY_PREVIOUS or master.key.previous, and refuses a malformed one", async () => {
    const dir = await mkdtemp(join(tmpdir(), "switchyard-keyring-"));
    try {
      const env = {
        SWITCHYARD_MASTER_KEY: NEW.toString("hex"),
        SWITCHYARD_MASTER_KEY_PREVIOUS: `${OLD.toString("hex")}, ${randomBytes(32).toString("base64")}`,
      };
      expect((await loadKeyring(dir, env)).box.keyIds).toHaveLength(3);
      await writeFile(join(dir, "master.key.previous"), `# retired 2026-12\n${OLD.toString("hex")}\n`);
      const fromFile = await loadKeyring(dir, { SWITCHYARD_MASTER_KEY: NEW.toString("hex") });
      expect(fromFile.box.keyIds).toEqual([masterKeyId(NEW), masterKeyId(OLD)]);
      expect(fromFile.previousSource).toBe(join(dir, "master.key.previous"));
      await expect(loadKeyring(dir, { SWITCHYARD_MASTER_KEY: NEW.toString("hex"), SWITCHYARD_MASTER_KEY_PREVIOUS: "nope" })).rejects.toThrow(SecretSetupError);
      await expect(loadKeyring(join(dir, "empty"), {}, false)).rejects.toThrow("no master key");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
