/**
 * The repository stands alone: a fresh clone, with nothing next to it, must
 * build, test and read as a whole. So no file under src/, bench/, docs/ or at
 * the top level may point at material outside the repository (a sibling
 * folder's fixtures or design notes, an absolute path on a developer machine),
 * and every `docs/<page>.md#<anchor>` that a comment or a document cites must
 * name a heading that exists (GitHub's anchor rules).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", "data", "coverage"]);
const SKIP_FILES = new Set(["package-lock.json"]);

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name) || SKIP_FILES.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

const topLevel = readdirSync(ROOT)
  .map((name) => path.join(ROOT, name))
  // A worktree's `.git` is a file naming the main checkout: not part of the repository's content.
  .filter((f) => statSync(f).isFile() && !SKIP_FILES.has(path.basename(f)) && !SKIP_DIRS.has(path.basename(f)));
const SCANNED = [
  ...filesUnder(path.join(ROOT, "src")),
  ...filesUnder(path.join(ROOT, "bench")),
  ...filesUnder(path.join(ROOT, "docs")),
  ...filesUnder(path.join(ROOT, "scripts")),
  ...topLevel,
].filter((f) => f !== SELF);

const rel = (f: string): string => path.relative(ROOT, f);

/** Text that only makes sense next to the reference notes and fixtures that used to live outside the repository. */
const OUTSIDE_REFERENCES: ReadonlyArray<[RegExp, string]> = [
  [/\bPROTOCOLS\.md\b/, "cites PROTOCOLS.md; point at docs/protocols.md instead"],
  // No folder of the repository is called shared (protocol helpers live in src/protocols/common/), so a
  // relative path to one climbs out of the checkout, to the sibling folder a clean clone does not have.
  [/\.\.\/shared\b/, "reads the sibling shared folder, outside the repository"],
  [/\bDESIGN\.md\b/, "cites DESIGN.md; point at docs/architecture.md instead"],
  [/\b(?:PROTOCOLS|DESIGN) §/, "cites a section of a document outside the repository"],
  [/shared\/fixtures/, "reads fixtures outside the repository; use src/protocols/<name>/__fixtures__/"],
  [/\/work\/(?:shared|main)\b/, "uses an absolute path of a development machine"],
];

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

describe("the repository stands alone", () => {
  it("scans the source, benchmark and documentation files", () => {
    expect(SCANNED.some((f) => rel(f) === "src/main.ts")).toBe(true);
    expect(SCANNED.some((f) => rel(f) === "docs/protocols.md")).toBe(true);
    expect(SCANNED.some((f) => rel(f).startsWith("bench/"))).toBe(true);
  });

  it("no file cites or reads material outside the repository", () => {
    const problems: string[] = [];
    for (const file of SCANNED) {
      const text = readFileSync(file, "utf8");
      for (const [pattern, why] of OUTSIDE_REFERENCES) {
        const g = new RegExp(pattern.source, "g");
        for (const m of text.matchAll(g)) problems.push(`${rel(file)}:${lineOf(text, m.index)}: ${why}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("every cited docs anchor names an existing heading", () => {
    const anchorsCache = new Map<string, Set<string>>();
    const anchorsOf = (mdFile: string): Set<string> | undefined => {
      if (!existsSync(mdFile)) return undefined;
      let anchors = anchorsCache.get(mdFile);
      if (!anchors) anchorsCache.set(mdFile, (anchors = headingAnchors(readFileSync(mdFile, "utf8"))));
      return anchors;
    };
    const problems: string[] = [];
    const check = (from: string, index: number, text: string, target: string, anchor: string | undefined): void => {
      const anchors = anchorsOf(target);
      const where = `${rel(from)}:${lineOf(text, index)}`;
      if (!anchors) problems.push(`${where}: ${rel(target)} does not exist`);
      else if (anchor !== undefined && !anchors.has(anchor)) problems.push(`${where}: ${rel(target)} has no heading for #${anchor}`);
    };
    let citations = 0;
    for (const file of SCANNED) {
      const text = readFileSync(file, "utf8");
      // Comments and prose: `docs/<page>.md#<anchor>`.
      for (const m of text.matchAll(/(?<![\w./-])(?:\.\.\/)*docs\/([\w-]+\.md)#([\w-]+)/g)) {
        citations++;
        check(file, m.index, text, path.join(ROOT, "docs", m[1]!), m[2]);
      }
      if (!file.endsWith(".md")) continue;
      // Markdown links to other pages (`](architecture.md#x)`) and within the page (`](#x)`).
      for (const m of text.matchAll(/\]\((?!https?:)([^)\s#]*\.md)?(?:#([^)\s]+))?\)/g)) {
        if (m[1] === undefined && m[2] === undefined) continue;
        citations++;
        check(file, m.index, text, m[1] === undefined ? file : path.resolve(path.dirname(file), m[1]), m[2]);
      }
    }
    expect(citations).toBeGreaterThan(100);
    expect(problems).toEqual([]);
  });
});

/** Anchors GitHub generates for a Markdown page's headings (outside code fences). */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}
