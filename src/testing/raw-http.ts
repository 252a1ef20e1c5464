/**
 * HTTP/1.1 at the byte level, for tests that must control what a pooled client
 * hides: a request whose head or body arrives slowly or never, a keep-alive
 * connection left idle, a request on a connection of its own.
 */
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect, type Socket } from "node:net";

export interface RawConnection {
  socket: Socket;
  /** Everything the server has sent so far (latin1). */
  received(): string;
  /** Resolves when the server has closed the connection (or it was reset). */
  closed: Promise<void>;
  /** Resolves with the first `count` complete responses (each answer must carry a content-length). */
  responses(count: number): Promise<string[]>;
}

/** Opens a TCP connection to the gateway at `url` and sends `text` on it. */
export function openRawConnection(url: string, text = ""): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let data = "";
    const waiters: Array<() => void> = [];
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      for (const w of waiters.splice(0)) w();
    });
    void closed.then(() => {
      for (const w of waiters.splice(0)) w();
    });
    socket.once("error", () => {});
    socket.once("connect", () => {
      if (text) socket.write(text);
      resolve({
        socket,
        received: () => data,
        closed,
        async responses(count) {
          for (;;) {
            const found = splitResponses(data);
            if (found.length >= count) return found.slice(0, count);
            if (socket.destroyed || socket.readableEnded) throw new Error(`connection closed after ${found.length} responses:\n${data}`);
            await new Promise<void>((wake) => waiters.push(wake));
          }
        },
      });
    });
    socket.once("error", reject);
  });
}

function splitResponses(data: string): string[] {
  const out: string[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf("\r\n\r\n");
    if (end === -1) return out;
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(rest.slice(0, end))?.[1] ?? 0);
    if (rest.length < end + 4 + length) return out;
    out.push(rest.slice(0, end + 4 + length));
    rest = rest.slice(end + 4 + length);
  }
}

export interface FreshResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request on a connection of its own (no pool, so no reuse of a connection the server just closed). */
export function freshRequest(url: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<FreshResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port: Number(port), method, path, headers, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}
