#!/usr/bin/env node
/**
 * The `switchyard` command (package.json `bin`). The commands live in cli/, one module
 * per group; this file only runs them against the real process.
 */
import { processIo } from "./cli/io.js";
import { runCli } from "./cli/program.js";

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`switchyard: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
