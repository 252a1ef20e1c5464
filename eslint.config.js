// Lint rules, including the layer rules of docs/architecture.md#shape: which part of src/ may
// import which, which packages a part may import, and no import cycles. src/architecture.test.ts lints forbidden imports against this
// file and the docs table, so these rules cannot silently stop applying again.
//
// All layer rules live in ONE `import-x/no-restricted-paths` entry in ONE config block. Flat
// config replaces a rule's options when a later block matching the same file sets the rule
// again, which is how per-folder `no-restricted-imports` blocks here once stopped applying:
// do not split the zones over several blocks.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import tseslint from "typescript-eslint";
import { importX, createNodeResolver } from "eslint-plugin-import-x";

const root = path.dirname(fileURLToPath(import.meta.url));
const abs = (p) => path.join(root, p);
// The resolver reports a package by its real path: follow a symlinked node_modules folder too.
const MODULES = fs.existsSync(abs("node_modules")) ? fs.realpathSync(abs("node_modules")) : abs("node_modules");

/**
 * The parts of src/ and the parts each may import: the "may import" column of the layer table
 * in docs/architecture.md (the test checks the two agree, row by row). A part always imports
 * itself.
 */
export const LAYERS = {
  canonical: { paths: ["src/canonical"], mayImport: [] },
  protocols: { paths: ["src/protocols"], mayImport: ["canonical"] },
  transport: { paths: ["src/transport"], mayImport: [] },
  observability: { paths: ["src/observability"], mayImport: [] },
  ports: { paths: ["src/storage/ports.ts"], mayImport: ["canonical"] },
  storageImpl: { paths: ["src/storage/sql", "src/storage/redis", "src/storage/open-store.ts"], mayImport: ["canonical", "ports"] },
  governance: { paths: ["src/governance"], mayImport: ["canonical", "ports", "observability"] },
  routing: { paths: ["src/routing"], mayImport: ["canonical", "ports", "observability", "upstream"] },
  upstream: { paths: ["src/upstream"], mayImport: ["canonical", "ports", "observability"] },
  pipeline: {
    paths: ["src/pipeline"],
    mayImport: ["canonical", "protocols", "transport", "observability", "ports", "governance", "routing", "upstream"],
  },
  admin: { paths: ["src/admin"], mayImport: ["canonical", "ports", "governance", "observability", "upstream"] },
  edge: { paths: ["src/edge"], mayImport: ["canonical", "transport", "observability", "ports", "pipeline", "admin"] },
  config: { paths: ["src/config"], mayImport: ["canonical", "ports", "governance", "observability"] },
  mock: { paths: ["src/mock"], mayImport: ["transport"] },
  main: { paths: ["src/main.ts", "src/cli.ts", "src/cli"], mayImport: "everything" },
};

/** Test support: no part imports it (its own files are exempt from the layer rules, see below). */
const TEST_SUPPORT = ["src/testing", "src/storage/store-contract.ts"];

/**
 * The "never" arrows of docs/architecture.md, each reported with its own reason.
 * Every one must also be outside the table above; the config refuses to load otherwise.
 */
export const NEVER = [
  ["canonical", "protocols", "canonical imports nothing"],
  ["protocols", "ports", "protocols import only canonical"],
  ["protocols", "pipeline", "protocols are pure"],
  ["protocols", "transport", "protocols are pure"],
  ["pipeline", "edge", "the edge stands above the pipeline"],
  ["routing", "governance", "only pipeline ties planes"],
  ["routing", "pipeline", "planes below pipeline"],
  ["governance", "routing", "only pipeline ties planes"],
  ["upstream", "routing", "only pipeline ties planes"],
  ["admin", "routing", "only pipeline ties planes"],
  ["edge", "protocols", "only pipeline ties protocols"],
  ["edge", "storageImpl", "only main chooses implementations"],
  ["pipeline", "storageImpl", "only main chooses implementations"],
  ["admin", "storageImpl", "only main chooses implementations"],
];

/** Packages only one part may import. canonical/ and protocols/ import no package at all. */
const PURE = ["canonical", "protocols"];
export const OWNED_PACKAGES = [
  { packages: ["undici"], owner: "upstream" },
  { packages: ["kysely", "better-sqlite3", "pg", "ioredis"], owner: "storageImpl" },
];

const show = (name) => LAYERS[name].paths.map((p) => `${p.replace(/^src\//, "")}${p.endsWith(".ts") ? "" : "/"}`).join(" + ");

function layerZones() {
  const names = Object.keys(LAYERS);
  for (const [from, to] of NEVER) {
    if (!LAYERS[from] || !LAYERS[to]) throw new Error(`eslint.config.js: unknown part in NEVER ${from} -> ${to}`);
    if (LAYERS[from].mayImport === "everything" || LAYERS[from].mayImport.includes(to))
      throw new Error(`eslint.config.js: LAYERS lets ${from} import ${to}, which NEVER forbids`);
  }
  const zones = [];
  for (const name of names) {
    const { paths, mayImport } = LAYERS[name];
    if (mayImport === "everything") continue;
    const target = paths.map(abs);
    const forbidden = names.filter((other) => other !== name && !mayImport.includes(other));
    for (const [from, to, why] of NEVER.filter(([from]) => from === name)) {
      zones.push({ target, from: LAYERS[to].paths.map(abs), message: `Layer rule "${show(from)} never imports ${show(to)}": ${why} (docs/architecture.md).` });
    }
    const rest = forbidden.filter((other) => !NEVER.some(([from, to]) => from === name && to === other));
    const allowed = mayImport.length > 0 ? mayImport.map(show).join(", ") : "nothing else in src/";
    zones.push({
      target,
      from: [...rest.flatMap((other) => LAYERS[other].paths), ...TEST_SUPPORT].map(abs),
      message: `Layer rule "${show(name)} may import only ${allowed}" (docs/architecture.md).`,
    });
  }
  // Packages. The pure parts get one zone over all of node_modules; the owned packages are
  // checked everywhere else, so one import never reports twice.
  zones.push({
    target: PURE.flatMap((n) => LAYERS[n].paths).map(abs),
    from: [MODULES],
    message: `Package rule "${PURE.map(show).join(" and ")} import no packages": they are pure codecs and types (docs/architecture.md).`,
  });
  for (const { packages, owner } of OWNED_PACKAGES) {
    zones.push({
      target: names
        .filter((n) => n !== owner && !PURE.includes(n))
        .flatMap((n) => LAYERS[n].paths)
        .map(abs),
      from: packages.map((p) => path.join(MODULES, p)),
      message: `Package rule "only ${show(owner)} imports ${packages.join(", ")}" (docs/architecture.md).`,
    });
  }
  return zones;
}

/** The parts a request or a stream event runs through, where the leading-spread rule holds. */
const HOT_PATH = [
  "src/canonical/**/*.ts",
  "src/protocols/**/*.ts",
  "src/transport/**/*.ts",
  "src/pipeline/**/*.ts",
  "src/edge/**/*.ts",
  "src/upstream/**/*.ts",
  "src/routing/**/*.ts",
  "src/governance/**/*.ts",
];
/** A member after a spread that opens an object literal: `{ ...base, key: value }`, `{ ...a, ...b }`. */
const LEADING_SPREAD = "ObjectExpression > SpreadElement:first-child ~ *";
const LEADING_SPREAD_MESSAGE =
  "An object literal that starts with a spread and goes on gets a new hidden class each time it runs on Node 20: " +
  "use withMembers() from src/canonical/shared-shape.ts, or Object.assign onto a fresh {} (docs/architecture.md#measured-facts).";

/** Test code: exempt from the layer and package rules (not from no-cycle). */
const TEST_FILES = ["**/*.test.ts", "src/testing/**", "bench/**", "src/storage/store-contract.ts", "src/protocols/**/test-support.ts"];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "console/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**/*.ts", "bench/**/*.ts"],
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js"],
      // Sources import `./x.js` for `./x.ts` (NodeNext); no TypeScript resolver needed.
      "import-x/resolver-next": [createNodeResolver({ extensions: [".ts", ".js", ".json", ".node"], extensionAlias: { ".js": [".ts", ".js"] } })],
    },
  },
  {
    files: ["src/**/*.ts", "bench/**/*.ts"],
    // A cycle through a test file needs another file importing it, and that file is checked;
    // skipping *.test.ts saves a whole-graph walk per test file (~0.5 s CPU) and misses nothing.
    // Type-only imports cannot form a runtime cycle; the rule skips them.
    ignores: ["**/*.test.ts"],
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    files: ["src/**/*.ts"],
    ignores: TEST_FILES,
    rules: { "import-x/no-restricted-paths": ["error", { zones: layerZones() }] },
  },
  {
    // The request path: everything a request or a stream event runs through. On Node 20 an object
    // literal that starts with a spread and goes on gets a hidden class of its own each time it
    // runs (src/canonical/shared-shape.ts). src/hot-path-shapes.test.ts proves the rule fires.
    files: HOT_PATH,
    ignores: TEST_FILES,
    rules: { "no-restricted-syntax": ["error", { selector: LEADING_SPREAD, message: LEADING_SPREAD_MESSAGE }] },
  },
  {
    files: ["**/*.test.ts", "src/testing/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
