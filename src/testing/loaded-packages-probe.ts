/**
 * Run by `src/main-lazy-drivers.test.ts` in a process of its own (vite-node): starts the
 * gateway from the YAML file named by the first argument, prints the npm packages loaded
 * through Node's CommonJS loader as one JSON line, and stops.
 */
import { createRequire } from "node:module";
import { loadConfig } from "../config/load.js";
import { startGateway } from "../main.js";

const configPath = process.argv[2];
if (!configPath) throw new Error("usage: loaded-packages-probe.ts CONFIG.yaml");
const { config, path } = await loadConfig(configPath);
const gateway = await startGateway({ config, source: path ?? configPath });
const packages = new Set<string>();
for (const file of Object.keys(createRequire(import.meta.url).cache)) {
  const name = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file)?.[1];
  if (name) packages.add(name);
}
process.stdout.write(`${JSON.stringify([...packages].sort())}\n`);
await gateway.close(100);
process.exit(0);
