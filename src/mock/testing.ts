/** Small HTTP helpers for tests that talk to the mock over real sockets. */
import { request } from "node:http";

export const OPENAI_HEADERS: Readonly<Record<string, string>> = { authorization: "Bearer sk-test", "content-type": "application/json" };
export const ANTHROPIC_HEADERS: Readonly<Record<string, string>> = {
  "x-api-key": "sk-ant-test",
  "anthropic-version": "2023-06-01",
  "content-type": "application/json",
};
export const CODEX_HEADERS: Readonly<Record<string, string>> = {
  authorization: "Bearer eyJ.mock.jwt",
  "chatgpt-account-id": "acc_mock",
  "content-type": "application/json",
  accept: "text/event-stream",
};

export interface RawResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The chunks as they arrived, to observe write boundaries. */
  chunks: Buffer[];
  /** False when the connection ended before the response was complete. */
  complete: boolean;
  /** Set when the request failed before a response (e.g. ECONNRESET). */
  error?: Error;
  text(): string;
  json(): unknown;
}

/** One request with node:http, tolerant of cut connections: it resolves with whatever arrived. */
export function rawRequest(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<RawResult> {
  const payload =
    opts.body === undefined
      ? undefined
      : Buffer.isBuffer(opts.body)
        ? opts.body
        : Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body), "utf8");
  const url = new URL(path, base);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const make = (status: number, headers: RawResult["headers"], complete: boolean, error?: Error): RawResult => {
      const body = Buffer.concat(chunks);
      const result: RawResult = {
        status,
        headers,
        body,
        chunks,
        complete,
        text: () => body.toString("utf8"),
        json: () => JSON.parse(body.toString("utf8")) as unknown,
      };
      if (error) result.error = error;
      return result;
    };
    const req = request(
      url,
      {
        method: opts.method ?? (payload ? "POST" : "GET"),
        headers: { ...(opts.headers ?? {}), ...(payload ? { "content-length": String(payload.length) } : {}) },
        agent: false,
      },
      (res) => {
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", () => undefined);
        res.on("close", () => resolve(make(res.statusCode ?? 0, res.headers, res.complete)));
      },
    );
    req.on("error", (err) => resolve(make(0, {}, false, err)));
    req.end(payload);
  });
}
