/**
 * The request and response classes the gateway's HTTP server makes (`createServer`'s
 * `IncomingMessage` and `ServerResponse` options): each carries what the server's shared
 * listeners need to know of its request, so no listener, wrapper or bound function is made per
 * request. Wrapping each response's `writeHead` and listening with closures, as the server did,
 * cost a bound function and four closures a request, each compiled on its first call.
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from "node:http";

export class GatewayRequest extends IncomingMessage {
  /** The request id, for what its listeners log; "" until the server has given it one. */
  requestId = "";
}

export class GatewayResponse extends ServerResponse<GatewayRequest> {
  /** Called once, as the head is written (the time to first byte), then forgotten. */
  onHead: ((res: GatewayResponse) => void) | undefined = undefined;
  /** When the server took the request (`performance.now()`). */
  startedAt = 0;
  /** The route's label in the metrics. */
  routeLabel = "";
  /** Aborted when the connection closes before the response finished (the client left). */
  abortOnClose: { abort(): void } | undefined = undefined;
  /** The request id every head carries as `x-request-id`; "" for none. */
  requestId = "";

  // Node calls it for an implicit head too (a first `write` without one), so every head passes here.
  // Both of node's forms (status, headers) and (status, reason, headers) pass on as three arguments:
  // node takes a second argument that is not a string for the headers. No rest array, no spread.
  override writeHead(statusCode: number, reasonOrHeaders?: unknown, headers?: unknown): this {
    const onHead = this.onHead;
    if (onHead !== undefined) {
      this.onHead = undefined;
      onHead(this);
    }
    const id = this.requestId;
    if (id === "") return super.writeHead(statusCode, reasonOrHeaders as string, headers as OutgoingHttpHeaders);
    // The id goes into the head here, not with setHeader when the request arrived: a header set before
    // writeHead sends node down its slow path, which copies every header of the head through setHeader
    // into a dictionary-mode object (and a `for…in` over it, which V8 enumerates in its runtime) first.
    if (typeof reasonOrHeaders === "string") return super.writeHead(statusCode, reasonOrHeaders, withRequestId(headers, id));
    // As node reads it: a second argument that is not a reason stands for the headers unless a third is given.
    return super.writeHead(statusCode, withRequestId(headers ?? reasonOrHeaders, id));
  }
}

/** The head's headers with `x-request-id` first; node's list forms (name, value, name, value…, or pairs) too. */
function withRequestId(headers: unknown, id: string): OutgoingHttpHeaders | Array<string | string[]> {
  if (Array.isArray(headers))
    return Array.isArray(headers[0]) ? [["x-request-id", id], ...(headers as string[][])] : ["x-request-id", id, ...(headers as string[])];
  return Object.assign({ "x-request-id": id }, headers as OutgoingHttpHeaders | undefined);
}
