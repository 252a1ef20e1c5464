/**
 * A WebSocket client at the byte level, for tests that must send what no
 * well-behaved library would: frames that break RFC 6455
 * (https://www.rfc-editor.org/rfc/rfc6455#section-5.2).
 */
import { connect, type Socket } from "node:net";
import { randomBytes } from "node:crypto";

export interface RawWebSocket {
  socket: Socket;
  /** Bytes the server sent after the 101 answer. */
  received(): Buffer;
  /** Resolves when the server has closed the TCP connection. */
  closed: Promise<void>;
}

/** Opens a TCP connection and completes the upgrade handshake on `path`. */
export function openRawWebSocket(url: string, path: string, headers: Record<string, string>): Promise<RawWebSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let after = Buffer.alloc(0);
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.on("error", () => {});
    socket.once("connect", () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: ${hostname}:${port}`,
        "Upgrade: websocket",
        "Connection: Upgrade",
        `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
        "Sec-WebSocket-Version: 13",
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    });
    socket.on("data", (d: Buffer) => {
      if (upgraded) {
        after = Buffer.concat([after, d]);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf("\r\n\r\n");
      if (end === -1) return;
      const head = buf.subarray(0, end).toString("latin1");
      if (!head.startsWith("HTTP/1.1 101")) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${head.split("\r\n")[0]}`));
        return;
      }
      upgraded = true;
      after = buf.subarray(end + 4);
      resolve({ socket, received: () => after, closed });
    });
    closed.then(() => {
      if (!upgraded) reject(new Error("connection closed before the upgrade completed"));
    }, reject);
  });
}

/** A client frame: FIN + opcode byte as given, masked with a random key unless `masked` is false. */
export function clientFrame(first: number, payload: Buffer, opts: { masked?: boolean; declaredLength?: bigint } = {}): Buffer {
  const masked = opts.masked ?? true;
  const len = opts.declaredLength ?? BigInt(payload.length);
  let header: Buffer;
  if (len < 126n) {
    header = Buffer.from([first, (masked ? 0x80 : 0) | Number(len)]);
  } else if (len < 65536n) {
    header = Buffer.alloc(4);
    header[0] = first;
    header[1] = (masked ? 0x80 : 0) | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = first;
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([header, key, body]);
}

/** The status code of the first close frame (opcode 8) among server frames, if any. */
export function closeCodeOf(serverBytes: Buffer): number | undefined {
  let i = 0;
  while (i + 2 <= serverBytes.length) {
    const opcode = serverBytes[i]! & 0x0f;
    let len = serverBytes[i + 1]! & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = serverBytes.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(serverBytes.readBigUInt64BE(at));
      at += 8;
    }
    if (opcode === 8) return len >= 2 ? serverBytes.readUInt16BE(at) : 1005;
    i = at + len;
  }
  return undefined;
}
