/**
 * The README's commands: `npm install` builds once (npm's `prepare` hook, which npm runs
 * for the root package on `npm install` and `npm ci`), and `npm start` only starts node,
 * refusing with a one-line fix when dist/ is missing or older than the sources.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string>; bin: Record<string, string> };

describe("package scripts", () => {
  it("build at install, and start without building", () => {
    expect(pkg.scripts.prepare).toBe("node scripts/prepare.mjs");
    expect(pkg.scripts.start).not.toMatch(/build|tsc/);
    expect(pkg.bin.switchyard).toBe("dist/src/cli.js");
  });

  it("start the server as the deployment guide and the README do, with no node flags (serve sets its V8 flags itself)", () => {
    expect(pkg.scripts.start).toBe("node scripts/check-dist.mjs && node dist/src/cli.js serve");
    expect(readFileSync(join(ROOT, "docs", "deployment.md"), "utf8")).toContain("\nnode dist/src/cli.js serve --config");
    expect(readFileSync(join(ROOT, "README.md"), "utf8")).toContain("`node dist/src/cli.js serve --config");
  });
});

describe("scripts/check-dist.mjs", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A tree with the script, one source file and (optionally) a build, with set times. */
  function tree(o: { built?: number; source: number; test?: number }): string {
    dir = mkdtempSync(join(tmpdir(), "switchyard-dist-"));
    mkdirSync(join(dir, "scripts"));
    copyFileSync(join(ROOT, "scripts", "check-dist.mjs"), join(dir, "scripts", "check-dist.mjs"));
    mkdirSync(join(dir, "src", "edge"), { recursive: true });
    writeFileSync(join(dir, "src", "edge", "server.ts"), "");
    utimesSync(join(dir, "src", "edge", "server.ts"), o.source, o.source);
    if (o.test !== undefined) {
      writeFileSync(join(dir, "src", "edge", "server.test.ts"), "");
      utimesSync(join(dir, "src", "edge", "server.test.ts"), o.test, o.test);
    }
    if (o.built !== undefined) {
      mkdirSync(join(dir, "dist", "src"), { recursive: true });
      writeFileSync(join(dir, "dist", "src", "cli.js"), "");
      utimesSync(join(dir, "dist", "src", "cli.js"), o.built, o.built);
    }
    return dir;
  }

  const check = (root: string) => spawnSync(process.execPath, [join(root, "scripts", "check-dist.mjs")], { encoding: "utf8" });

  it("passes a build newer than every source; a newer test file does not count", () => {
    const r = check(tree({ source: 1_000_000, built: 2_000_000, test: 3_000_000 }));
    expect(r.status, r.stderr).toBe(0);
  });

  it("refuses a missing build with the command that makes one", () => {
    const r = check(tree({ source: 1_000_000 }));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("switchyard: dist/ is not built; run: npm run build   (npm install builds it too)");
  });

  it("refuses a build older than a source, naming the source", () => {
    const r = check(tree({ source: 2_000_000, built: 1_000_000 }));
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("switchyard: dist/ is older than the sources (src/edge/server.ts changed since the build); run: npm run build");
  });
});
