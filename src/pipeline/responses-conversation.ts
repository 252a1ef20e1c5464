/**
 * What one client Responses WebSocket connection remembers of its conversation, as the public API
 * keeps it server-side (docs/protocols.md#websocket-to-http-upstreams): the last request and the
 * output items relayed for it. A follow-up naming that response in `previous_response_id` is rebuilt
 * into a full request (last input + last output + new input), which is what an HTTP upstream gets,
 * and what an upstream socket gets when it cannot chain (pipeline/upstream-socket-session.ts).
 *
 * The bound: one request and its output. A rebuilt request larger than `server.body_limit_bytes`
 * is refused (`request_too_large`) before it is kept, so the memory held per connection stays
 * within about the body limit plus one answer.
 */
type Json = Record<string, unknown>;

export type TurnBody =
  /** `previous_response_id` names no response this connection knows: the client must send the full input. */
  | { kind: "unknown_previous"; previous: unknown }
  | {
      kind: "turn";
      /** The whole request to send (without `previous_response_id`). */
      body: Json;
      /** The client's own fields (model and instructions filled in), to send incrementally on an upstream socket that holds `previousId`. */
      chained?: { fields: Json; previousId: string };
    };

export class ResponsesConversation {
  #lastRequest: Json | undefined;
  #lastResponseId: string | undefined;
  #lastOutput: unknown[] = [];

  /** The body of a `response.create` (its transport-only fields removed), rebuilt when it chains. */
  turn(fields: Json, previous: unknown): TurnBody {
    if (previous === undefined || previous === null) return { kind: "turn", body: fields };
    const last = this.#lastRequest;
    if (!last || typeof previous !== "string" || previous !== this.#lastResponseId) return { kind: "unknown_previous", previous };
    const newInput = Array.isArray(fields.input) ? fields.input : fields.input === undefined ? [] : [{ role: "user", content: fields.input }];
    const lastInput = Array.isArray(last.input) ? last.input : [];
    const body: Json = Object.assign({}, last, fields, { input: [...lastInput, ...this.#lastOutput, ...newInput] });
    if (fields.model === undefined) body.model = last.model;
    if (fields.instructions === undefined && last.instructions !== undefined) body.instructions = last.instructions;
    const chained: Json = Object.assign({}, fields, { model: body.model }, body.instructions !== undefined ? { instructions: body.instructions } : undefined);
    return { kind: "turn", body, chained: { fields: chained, previousId: previous } };
  }

  /** A response completed for `body`: the next follow-up may chain from it. */
  completed(body: Json, responseId: string, output: unknown): void {
    this.#lastRequest = body;
    this.#lastResponseId = responseId;
    // Replayed as input with store:false, so without server-side item ids (docs/protocols.md#responses-input-items).
    this.#lastOutput = Array.isArray(output)
      ? output.map((item: unknown) => {
          if (!item || typeof item !== "object") return item;
          const { id: _id, ...rest } = item as Json;
          return rest;
        })
      : [];
  }
}
