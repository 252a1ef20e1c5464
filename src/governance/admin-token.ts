/**
 * The admin credential: SWITCHYARD_ADMIN_TOKEN when set, otherwise a token
 * generated on first start and kept in `<data_dir>/admin-token` (mode 0600).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateAdminToken } from "./api-keys.js";
import { SecretSetupError } from "./secrets.js";

/** The admin token opens everything: at least this many characters, and not a repeated pattern. */
export const MIN_ADMIN_TOKEN_LENGTH = 32;

/** Refuses a token too short or too uniform to be random (a few distinct characters repeated). */
export function checkAdminToken(token: string): void {
  if (token.length < MIN_ADMIN_TOKEN_LENGTH || new Set(token).size < 12) {
    throw new SecretSetupError(
      `SWITCHYARD_ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters of random text (make one with: openssl rand -base64 32)`,
    );
  }
}

export async function loadAdminToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ token: string; source: string }> {
  if (env.SWITCHYARD_ADMIN_TOKEN) {
    checkAdminToken(env.SWITCHYARD_ADMIN_TOKEN);
    return { token: env.SWITCHYARD_ADMIN_TOKEN, source: "SWITCHYARD_ADMIN_TOKEN" };
  }
  const path = join(dataDir, "admin-token");
  try {
    const token = (await readFile(path, "utf8")).trim();
    if (token) return { token, source: path };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  await mkdir(dataDir, { recursive: true });
  const token = generateAdminToken();
  await writeFile(path, token + "\n", { mode: 0o600 });
  return { token, source: path };
}
