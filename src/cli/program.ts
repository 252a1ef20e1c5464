/**
 * The command line: one module per command group, parsed with commander (subcommands,
 * generated `--help`, and precise messages for unknown options, missing arguments and
 * bad values, which a hand-written parseArgs layer per command would repeat).
 *
 * Exit codes: 0 done; 1 the command could not be done (one line saying why); 2 it was
 * called wrongly (one line, then the command's usage). `serve` keeps running.
 */
import { Command, CommanderError } from "commander";
import { ConfigError } from "../config/load.js";
import { SecretSetupError } from "../governance/secrets.js";
import { registerAccounts } from "./accounts.js";
import { registerAudit } from "./audit.js";
import type { CliContext } from "./context.js";
import { registerCredits } from "./credits.js";
import { registerExplain } from "./explain.js";
import { CliFailure, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, KEEP_RUNNING, UsageError, type CliIo } from "./io.js";
import { registerKeys } from "./keys.js";
import { registerServer } from "./server.js";
import { registerUpstreams } from "./upstreams.js";
import { registerUsage } from "./usage.js";

const REGISTER = [registerServer, registerAccounts, registerKeys, registerUpstreams, registerCredits, registerUsage, registerAudit, registerExplain];

/** The command tree, writing through `io`; errors surface as exceptions rather than exits. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command("switchyard")
    .description("Switchyard AI gateway: serve it, migrate its database, administer it")
    .option("-c, --config <file>", "config file (default: $SWITCHYARD_CONFIG, then ./switchyard.yaml, then embedded defaults)")
    .showSuggestionAfterError(false)
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s), outputError: () => undefined })
    .exitOverride();
  for (const register of REGISTER) register(program, ctx);
  // Every command reports its own mistakes, so the usage printed is the one that was misused.
  const tag = (cmd: Command): void => {
    cmd.exitOverride((err) => {
      throw Object.assign(err, { command: cmd });
    });
    cmd.commands.forEach(tag);
  };
  tag(program);
  return program;
}

/** `switchyard` alone (or with only options) serves, as it always has. */
function withDefaultCommand(argv: readonly string[]): string[] {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-c" || a === "--config") {
      i++;
      continue;
    }
    if (a === "-h" || a === "--help") return [...argv];
    if (!a.startsWith("-")) return [...argv];
  }
  return [...argv, "serve"];
}

/** Runs one command line; resolves with the exit code, or KEEP_RUNNING for `serve`. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let keep = false;
  let acting: Command | undefined;
  const ctx: CliContext = {
    io,
    // Called from actions only, once the program below exists.
    configPath: () => program.opts<{ config?: string }>().config,
    keepRunning: () => void (keep = true),
  };
  const program = buildProgram(ctx);
  program.hook("preAction", (_root, actionCommand) => void (acting = actionCommand));
  try {
    await program.parseAsync(withDefaultCommand(argv), { from: "user" });
    return keep ? KEEP_RUNNING : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT_OK;
      const cmd = (err as CommanderError & { command?: Command }).command ?? program;
      // A command group called without its subcommand: commander has printed the group's usage already.
      if (err.code === "commander.help") {
        io.err(`switchyard: '${cmd.name()}' needs a subcommand\n`);
        return EXIT_USAGE;
      }
      io.err(`switchyard: ${err.message.replace(/^error: /, "")}\n\n${cmd.helpInformation()}`);
      return EXIT_USAGE;
    }
    if (err instanceof UsageError) {
      io.err(`switchyard: ${err.message}\n\n${(acting ?? program).helpInformation()}`);
      return EXIT_USAGE;
    }
    // Operators get one line; SWITCHYARD_DEBUG=1 adds the stack of an unexpected error for a bug report.
    const known = err instanceof ConfigError || err instanceof SecretSetupError || err instanceof CliFailure;
    const text = err instanceof Error ? (io.env.SWITCHYARD_DEBUG && !known ? (err.stack ?? err.message) : err.message) : String(err);
    io.err(err instanceof ConfigError ? `${text}\n` : `switchyard: ${text}\n`);
    return EXIT_FAILURE;
  }
}
