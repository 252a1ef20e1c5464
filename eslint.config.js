// Lint rules, including the dependency rules of DESIGN.md §6:
// canonical imports nothing; protocols import only canonical; planes reach
// storage only through storage/ports; only main.ts picks implementations.
import tseslint from "typescript-eslint";

const restrict = (patterns, message) => ["error", { patterns: patterns.map((group) => ({ group: [group], message })) }];

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "console/**"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/canonical/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: { "no-restricted-imports": restrict(["../*"], "canonical/ imports nothing outside itself.") },
  },
  {
    files: ["src/protocols/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": restrict(
        [
          "**/pipeline/*",
          "**/edge/*",
          "**/routing/*",
          "**/storage/*",
          "**/upstream/*",
          "**/governance/*",
          "**/admin/*",
          "**/config/*",
          "**/transport/*",
          "**/observability/*",
          "**/main.js",
        ],
        "protocols/ are pure codecs: they import only canonical/ and each other.",
      ),
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/main.ts", "src/cli.ts", "src/storage/**", "**/*.test.ts", "src/testing/**"],
    rules: {
      "no-restricted-imports": restrict(
        ["**/storage/sql/*", "**/storage/open-store.js"],
        "Reach storage through storage/ports; only main.ts picks the implementation.",
      ),
    },
  },
  // The planes meet only in the pipeline. These blocks restate the storage rule above,
  // since a later block's options replace an earlier one's for the same files.
  ...[
    ["src/routing/**/*.ts", ["**/governance/*", "**/admin/*"], "routing/ never imports governance/ or admin/: only the pipeline ties the planes."],
    ["src/governance/**/*.ts", ["**/routing/*", "**/admin/*"], "governance/ never imports routing/ or admin/: only the pipeline ties the planes."],
    ["src/admin/**/*.ts", ["**/routing/*"], "admin/ never imports routing/: it changes the store and signals onChange."],
    ["src/upstream/**/*.ts", ["**/routing/*"], "upstream/ never imports routing/: only the pipeline ties the planes."],
  ].map(([dir, banned, message]) => ({
    files: [dir],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: banned, message },
            { group: ["**/storage/sql/*", "**/storage/open-store.js"], message: "Reach storage through storage/ports; only main.ts picks the implementation." },
          ],
        },
      ],
    },
  })),
  {
    files: ["**/*.test.ts", "src/testing/**/*.ts", "bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off", "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
