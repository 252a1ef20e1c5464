/**
 * What a command reads and writes, passed in rather than taken from `process`, so the
 * whole CLI runs in-process under test exactly as it runs from the shell.
 */
export interface CliIo {
  readonly env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  /** Standard input as text (for `--key-file -`). */
  readStdin(): Promise<string>;
}

/** A mistake in how the command was called: one line, the command's usage, exit 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The command was well formed but could not be done (the gateway refused, a file is missing …): one line, exit 1. */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
/** `serve` keeps running: the caller must not exit. */
export const KEEP_RUNNING = -1;

export function processIo(): CliIo {
  return {
    env: process.env,
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
  };
}
