/**
 * The admin credential: SWITCHYARD_ADMIN_TOKEN when set, otherwise a token
 * generated on first start and kept in `<data_dir>/admin-token` (mode 0600).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateAdminToken } from "./api-keys.js";

export async function loadAdminToken(dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ token: string; source: string }> {
  if (env.SWITCHYARD_ADMIN_TOKEN) return { token: env.SWITCHYARD_ADMIN_TOKEN, source: "SWITCHYARD_ADMIN_TOKEN" };
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
