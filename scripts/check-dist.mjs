// `npm start` runs the built gateway without building it (the build runs once, at `npm install`).
// This refuses, with the command that fixes it, to start a dist/ that is missing or older than
// the sources, rather than run code that is not what the working tree says.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const entry = join(root, "dist", "src", "cli.js");

/** The newest gateway source (tests left out: they are not built) and its time. */
function newestSource(dir) {
  let newest = { file: undefined, mtime: 0 };
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    const found = e.isDirectory()
      ? newestSource(path)
      : e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")
        ? { file: path, mtime: statSync(path).mtimeMs }
        : undefined;
    if (found && found.mtime > newest.mtime) newest = found;
  }
  return newest;
}

let built;
try {
  built = statSync(entry).mtimeMs;
} catch {
  console.error("switchyard: dist/ is not built; run: npm run build   (npm install builds it too)");
  process.exit(1);
}
const source = newestSource(join(root, "src"));
if (source.mtime > built) {
  console.error(`switchyard: dist/ is older than the sources (${source.file.slice(root.length)} changed since the build); run: npm run build`);
  process.exit(1);
}
