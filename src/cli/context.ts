import type { Command } from "commander";
import type { CliIo } from "./io.js";

/** What every command group's registration gets: the I/O and the program-wide options. */
export interface CliContext {
  readonly io: CliIo;
  /** `--config`, wherever on the command line it was given. */
  configPath(): string | undefined;
  /** Set by an action that must not exit (serve). */
  keepRunning(): void;
}

export type Register = (program: Command, ctx: CliContext) => void;
