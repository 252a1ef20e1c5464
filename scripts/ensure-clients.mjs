// `npm test` runs the end-to-end suite with the real Codex CLI and Claude Code, pinned in
// e2e/real-clients/package.json (a package of their own, so `npm install` never downloads their
// ~640 MB of native binaries). This installs them before the tests when they are missing or not
// at the pinned versions, so the README's `npm test` is all a developer runs; once installed it
// only reads two package.json files. Install scripts stay off: the suite runs the binaries
// directly (src/testing/client-binaries.ts says why).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL("../e2e/real-clients/", import.meta.url));
const pins = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).dependencies;

function installed(name) {
  const file = join(dir, "node_modules", name, "package.json");
  return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")).version : undefined;
}

const stale = Object.entries(pins).filter(([name, version]) => installed(name) !== version);
if (stale.length > 0) {
  console.log(`installing the pinned real clients for the end-to-end suite: ${stale.map(([n, v]) => `${n}@${v}`).join(", ")}`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const r = spawnSync(npm, ["ci", "--prefix", dir, "--ignore-scripts", "--no-audit", "--no-fund"], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error("could not install them; the end-to-end tests will fail and name the command to run");
    process.exit(0);
  }
}
