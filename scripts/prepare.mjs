// `npm install` and `npm ci` run this once (npm's `prepare` hook), so `npm start` only starts node.
// Without TypeScript (an install that omitted dev dependencies) there is nothing to build with:
// say so and succeed, so such an install of an already built tree still works.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve("typescript/bin/tsc");
} catch {
  console.log("switchyard: TypeScript is not installed (dev dependencies omitted), so dist/ was not built; build it where it is: npm run build");
  process.exit(0);
}
const run = spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { stdio: "inherit" });
process.exit(run.status ?? 1);
