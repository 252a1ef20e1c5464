/**
 * The layer rules must keep biting: lint deliberately forbidden imports placed at real paths
 * with the project's own ESLint config, and check the layer table of docs/architecture.md
 * against what the lint actually enforces, row by row. (Once, a later config block silently
 * replaced the per-folder rules and a protocols file could import the pipeline; see
 * eslint.config.js.)
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint, type Linter } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const ZONES = "import-x/no-restricted-paths";

let eslint: ESLint;
beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

async function lint(filePath: string, code: string): Promise<Linter.LintMessage[]> {
  const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
  return result!.messages;
}

/** Lints `import "<to>"` placed in file `from` (repo-relative); `to` is repo-relative unless it is a package name. */
async function lintImport(from: string, to: string): Promise<Linter.LintMessage[]> {
  let specifier = to;
  if (to.startsWith("src/")) {
    expect(existsSync(join(root, to)), `${to} moved: point this test at a file in that folder`).toBe(true);
    specifier = relative(dirname(join(root, from)), join(root, to)).replace(/\.ts$/, ".js");
    if (!specifier.startsWith(".")) specifier = `./${specifier}`;
  }
  return lint(from, `import "${specifier}";\n`);
}

const rules = (messages: Linter.LintMessage[]) => messages.map((m) => m.ruleId);
const zoneMessages = (messages: Linter.LintMessage[]) => messages.filter((m) => m.ruleId === ZONES).map((m) => m.message);

describe("forbidden imports are reported", () => {
  it.each([
    ["src/protocols/x.ts", "src/pipeline/handle-request.ts", "protocols are pure"],
    ["src/protocols/x.ts", "undici", "canonical/ and protocols/ import no packages"],
    ["src/protocols/x.ts", "zod", "canonical/ and protocols/ import no packages"],
    ["src/canonical/x.ts", "src/protocols/registry.ts", "canonical imports nothing"],
    ["src/pipeline/x.ts", "src/edge/server.ts", "the edge stands above the pipeline"],
    ["src/pipeline/x.ts", "src/storage/open-store.ts", "only main chooses implementations"],
    ["src/pipeline/x.ts", "undici", "only upstream/ imports undici"],
    ["src/routing/x.ts", "src/governance/secrets.ts", "only pipeline ties planes"],
    ["src/admin/x.ts", "src/routing/catalog.ts", "only pipeline ties planes"],
    ["src/admin/x.ts", "kysely", "only storage/sql/ + storage/redis/ + storage/open-store.ts imports kysely"],
    ["src/edge/x.ts", "src/protocols/codec.ts", "only pipeline ties protocols"],
    ["src/pipeline/x.ts", "src/testing/stack.ts", "pipeline/ may import only"],
  ])("%s importing %s", async (from, to, rule) => {
    const messages = await lintImport(from, to);
    expect(zoneMessages(messages)).toEqual([expect.stringContaining(rule)]);
  });

  it("a two-file cycle", async () => {
    // canonical/index.ts re-exports values of its siblings; give one of them an import back to the index.
    const index = readFileSync(join(root, "src/canonical/index.ts"), "utf8");
    const sibling = /^export \{[^}]*\} from "\.\/([\w-]+)\.js"/m.exec(index)?.[1];
    expect(sibling, "src/canonical/index.ts no longer re-exports a sibling's values: pick another pair").toBeDefined();
    const messages = await lint(`src/canonical/${sibling}.ts`, `import "./index.js";\nexport const x = 1;\n`);
    expect(rules(messages)).toContain("import-x/no-cycle");
  });
});

describe("permitted imports lint clean", () => {
  it.each([
    ["src/pipeline/x.ts", "src/routing/catalog.ts"],
    ["src/pipeline/x.ts", "src/protocols/registry.ts"],
    ["src/protocols/x.ts", "src/canonical/errors.ts"],
    ["src/edge/x.ts", "src/canonical/protocols.ts"],
    ["src/upstream/x.ts", "undici"],
    ["src/storage/sql/x.ts", "kysely"],
    ["src/storage/open-store.ts", "pg"],
    ["src/storage/redis/x.ts", "ioredis"],
    ["src/main.ts", "src/storage/open-store.ts"],
    // Test code is exempt from the layer rules.
    ["src/protocols/x.test.ts", "src/pipeline/handle-request.ts"],
    ["src/testing/x.ts", "src/protocols/registry.ts"],
  ])("%s importing %s", async (from, to) => {
    expect(await lintImport(from, to)).toEqual([]);
  });
});

/** The rows of the layer table in docs/architecture.md. */
function layerTable(): { paths: string[]; mayImport: string[] | "everything" }[] {
  const doc = readFileSync(join(root, "docs/architecture.md"), "utf8");
  const lines = doc.split("\n");
  const header = lines.findIndex((l) => /^\|\s*folder\s*\|\s*holds\s*\|\s*may import\s*\|/.test(l));
  expect(header, "docs/architecture.md: layer table not found").toBeGreaterThan(-1);
  const rows = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [folder, , may] = line.split("|").slice(1, -1);
    const paths = [...folder!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!.replace(/\/$/, ""));
    const mayImport = may!.trim() === "everything" ? "everything" : [...may!.matchAll(/`([^`]+)`/g)].map((m) => `src/${m[1]!.replace(/\/$/, "")}`);
    rows.push({ paths, mayImport } as const);
  }
  return rows;
}

/** A file that exists in a row's path: the path itself, or the first non-test file in that folder. */
function realFile(path: string): string {
  if (path.endsWith(".ts")) return path;
  const file = readdirSync(join(root, path))
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
    .sort()[0];
  expect(file, `${path} holds no .ts file`).toBeDefined();
  return `${path}/${file}`;
}

const probe = (path: string) => (path.endsWith(".ts") ? path : `${path}/layer-probe.ts`);

describe("the layer table in docs/architecture.md is what the lint enforces", () => {
  const table = layerTable();

  it("names every part of src/ once", () => {
    const exempt = (f: string) =>
      f.endsWith(".test.ts") || f.startsWith("src/testing/") || f === "src/storage/store-contract.ts" || /\/test-support\.ts$/.test(f);
    const files = (readdirSync(join(root, "src"), { recursive: true }) as string[])
      .map((f) => `src/${f}`)
      .filter((f) => f.endsWith(".ts") && statSync(join(root, f)).isFile() && !exempt(f));
    const owners = (f: string) => table.filter((row) => row.paths.some((p) => f === p || f.startsWith(`${p}/`))).length;
    expect(files.filter((f) => owners(f) !== 1)).toEqual([]);
    for (const row of table)
      if (row.mayImport !== "everything")
        for (const p of row.mayImport)
          expect(
            table.some((r) => r.paths.includes(p)),
            `unknown part ${p}`,
          ).toBe(true);
  });

  it("every row may import exactly what the table says", async () => {
    const wrong: string[] = [];
    for (const row of table) {
      for (const from of row.paths) {
        for (const other of table) {
          if (other === row) continue;
          const allowed = row.mayImport === "everything" || other.paths.some((p) => row.mayImport.includes(p));
          for (const to of other.paths) {
            const reported = zoneMessages(await lintImport(probe(from), realFile(to))).length > 0;
            if (reported === allowed)
              wrong.push(`${from} -> ${to}: table says ${allowed ? "allowed" : "forbidden"}, lint ${reported ? "reports it" : "lets it pass"}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  }, 120_000);

  it("every never-rule fires with its reason", async () => {
    const doc = readFileSync(join(root, "docs/architecture.md"), "utf8");
    const nevers = [...doc.matchAll(/^\s*- `([^`]+)` never imports `([^`]+)`: (.+)$/gm)];
    expect(nevers.length).toBeGreaterThan(0);
    for (const [, from, to, why] of nevers) {
      const messages = zoneMessages(await lintImport(probe(`src/${from!.replace(/\/$/, "")}`), realFile(`src/${to!.replace(/\/$/, "")}`)));
      expect(messages, `${from} -> ${to}`).toEqual([expect.stringContaining(why!)]);
    }
  });
});
