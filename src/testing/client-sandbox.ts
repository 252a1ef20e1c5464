/**
 * A throwaway world for one run of a real client (Codex CLI, Claude Code): its own HOME,
 * CODEX_HOME and CLAUDE_CONFIG_DIR, an empty working directory, and a `mock` command on
 * PATH (the command the mock upstream's tool calls ask a shell to run: the simplest string
 * for a required `cmd`/`command`), which prints a marker unique to the sandbox, so a test can
 * find the shell's real output in the next request the client sends.
 *
 * The client sees none of this process's environment (no stray API key, no proxy, no
 * config of the person running the tests): only what `env` lists. The network is limited by
 * proxy variables that point every host but 127.0.0.1 at the sandbox's own trap
 * ({@link startTrapProxy}), which refuses and records: a test asserts nothing reached it.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ClientSandbox {
  root: string;
  home: string;
  /** CODEX_HOME: where Codex reads `config.toml` and writes its sessions. */
  codexHome: string;
  /** CLAUDE_CONFIG_DIR. */
  claudeConfig: string;
  /** The client's working directory (and workspace root). */
  work: string;
  /** What the `mock` command prints: `switchyard-e2e <random> ran in <cwd>`. */
  marker: string;
  /** The environment every client run gets, before its own variables. */
  env: NodeJS.ProcessEnv;
  /** Where every request for a host other than 127.0.0.1 ends up (refused). */
  trap: TrapProxy;
  remove(): Promise<void>;
}

export async function makeClientSandbox(): Promise<ClientSandbox> {
  const trap = await startTrapProxy();
  // Not under the real HOME, and short: Codex refuses helper links under a temp dir but runs on.
  const root = await mkdtemp(join(tmpdir(), "sy-e2e-"));
  const home = join(root, "home");
  const codexHome = join(home, ".codex");
  const claudeConfig = join(home, ".claude");
  const work = join(root, "work");
  const bin = join(root, "bin");
  for (const dir of [home, codexHome, claudeConfig, work, bin]) await mkdir(dir, { recursive: true });
  const marker = `switchyard-e2e-${randomBytes(6).toString("hex")}`;
  await writeFile(join(bin, "mock"), `#!/bin/sh\necho "${marker} ran in $(pwd)"\n`, { mode: 0o755 });
  // Codex runs its shell commands in a login shell (`bash -lc`), which resets PATH from
  // /etc/profile; the sandbox HOME's profile puts the `mock` command back in front.
  await writeFile(join(home, ".bash_profile"), `export PATH="${bin}:$PATH"\n`);
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    HOME: home,
    USER: process.env.USER ?? "root",
    SHELL: "/bin/bash",
    LANG: "C.UTF-8",
    TERM: "dumb",
    NO_COLOR: "1",
    TMPDIR: tmpdir(),
    // Every host but the loopback goes to the trap, which refuses (and records the attempt).
    HTTP_PROXY: trap.url,
    HTTPS_PROXY: trap.url,
    ALL_PROXY: trap.url,
    http_proxy: trap.url,
    https_proxy: trap.url,
    all_proxy: trap.url,
    NO_PROXY: "127.0.0.1,localhost",
    no_proxy: "127.0.0.1,localhost",
    CODEX_HOME: codexHome,
    CLAUDE_CONFIG_DIR: claudeConfig,
  };
  const remove = async (): Promise<void> => {
    await trap.close();
    await rm(root, { recursive: true, force: true });
  };
  return { root, home, codexHome, claudeConfig, work, marker, env, trap, remove };
}

export interface ClientResult {
  /** Exit code, or the signal's name. */
  exit: number | string;
  stdout: string;
  stderr: string;
}

/** Runs `argv` to its end (stdin closed), killing it after `timeoutMs` so a hung client fails the test instead of hanging it. */
export function runClient(argv: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ClientResult> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, opts.timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      done({ exit: code ?? signal ?? "unknown", stdout, stderr });
    });
  });
}

export interface TrapProxy {
  url: string;
  /** What reached the trap: `CONNECT host:port` or `GET http://…`. */
  hits: string[];
  close(): Promise<void>;
}

/** An HTTP proxy on 127.0.0.1 that refuses everything (403) and records what was asked of it. */
export async function startTrapProxy(): Promise<TrapProxy> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method ?? "?"} ${req.url ?? ""}`);
    res.writeHead(403, { connection: "close" }).end("switchyard e2e: no network but 127.0.0.1\n");
  });
  server.on("connect", (req, socket) => {
    hits.push(`CONNECT ${req.url ?? ""}`);
    socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export interface WireTap {
  /** Point the client here; bytes are relayed to the target unchanged. */
  url: string;
  /** The request lines the client sent (`POST /v1/responses`, `GET /v1/responses` …), in order, with `upgrade` set for WebSocket handshakes. */
  requests: Array<{ line: string; upgrade: boolean }>;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 in front of `target` that notes each HTTP request head the client
 * sends, so a test can tell how a client really talked to the gateway (HTTP POSTs, or one
 * WebSocket handshake and frames): a client that falls back from WebSocket to HTTP shows it here.
 * After a 101 the relay stops reading heads (frames are masked binary, never a request line).
 */
export async function startWireTap(target: string): Promise<WireTap> {
  const { hostname, port } = new URL(target);
  const requests: WireTap["requests"] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let upgraded = false;
    let pending = "";
    /** Body bytes still to come before the next head (content-length bodies; the clients send no chunked requests). */
    let skip = 0;
    client.on("data", (chunk: Buffer) => {
      if (!upgraded) {
        pending += chunk.toString("latin1");
        for (;;) {
          const skipped = Math.min(skip, pending.length);
          pending = pending.slice(skipped);
          skip -= skipped;
          if (skip > 0) break;
          const end = pending.indexOf("\r\n\r\n");
          if (end < 0) break;
          const head = pending.slice(0, end);
          const upgrade = /\r\nupgrade:\s*websocket/i.test(head);
          requests.push({ line: head.split("\r\n")[0]!.replace(/ HTTP\/1\.1$/, ""), upgrade });
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          pending = pending.slice(end + 4);
          skip = length ? Number(length[1]) : 0;
          if (upgrade) {
            upgraded = true;
            break;
          }
        }
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => client.write(chunk));
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((ok) => {
        for (const s of sockets) s.destroy();
        server.close(() => ok());
      }),
  };
}
