/**
 * Strict event-order validator for Responses streams (docs/protocols.md#responses-streaming),
 * used by the tests: every stream the gateway emits to a Responses client must
 * pass it. Returns the violations found; an empty list means valid.
 * `response.failed` may cut items short (upstreams do, and the passthrough lane
 * relays them); `response.completed` / `response.incomplete` may not.
 */
import { isObject, str, type JsonObject } from "./guards.js";
import { TERMINAL_EVENTS } from "./wire.js";

interface ItemTrack {
  type: string;
  id: string | undefined;
  done: boolean;
  parts: Array<{ open: boolean; textDone: boolean; text: string }>;
  args: string;
  argsDone: boolean;
  summaries: Array<{ open: boolean; text: string }>;
}

/** Events about the whole response rather than one output item. */
const STREAM_LEVEL: ReadonlySet<string> = new Set(["response.created", "response.in_progress", "response.queued", "error"]);

const TERMINAL_STATUS: Record<string, string> = {
  "response.completed": "completed",
  "response.incomplete": "incomplete",
  "response.failed": "failed",
};

export function validateResponsesStream(events: ReadonlyArray<{ event?: string; data: unknown }>): string[] {
  const v: string[] = [];
  const items = new Map<number, ItemTrack>();
  let lastSeq = -1;
  let terminalAt = -1;

  events.forEach((ev, n) => {
    const data = typeof ev.data === "string" ? parse(ev.data) : ev.data;
    const at = `event ${n}`;
    if (!isObject(data)) {
      v.push(`${at}: data is not a JSON object`);
      return;
    }
    const type = str(data.type);
    if (type === undefined) v.push(`${at}: data.type missing`);
    if (ev.event !== undefined && ev.event !== type) v.push(`${at}: event '${ev.event}' differs from data.type '${type}'`);
    const seq = data.sequence_number;
    if (typeof seq !== "number" || !Number.isInteger(seq)) v.push(`${at} (${type}): sequence_number missing`);
    else {
      if (n === 0 && seq !== 0) v.push(`${at}: sequence_number starts at ${seq}, not 0`);
      if (seq <= lastSeq) v.push(`${at} (${type}): sequence_number ${seq} not greater than ${lastSeq}`);
      lastSeq = seq;
    }
    if (n === 0 && type !== "response.created") v.push(`${at}: first event is '${type}', not response.created`);
    if (n > 0 && type === "response.created") v.push(`${at}: response.created repeated`);
    if (terminalAt >= 0) v.push(`${at} (${type}): event after the terminal event`);
    if (type && TERMINAL_EVENTS.has(type)) {
      terminalAt = n;
      checkTerminal(v, at, type, data, items);
      return;
    }
    if (type) checkEvent(v, `${at} (${type})`, type, data, items);
  });

  if (events.length === 0) v.push("empty stream");
  else if (terminalAt < 0) v.push("no terminal event (response.completed | response.incomplete | response.failed)");
  return v;
}

function parse(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

function checkTerminal(v: string[], at: string, type: string, data: JsonObject, items: Map<number, ItemTrack>): void {
  const response = isObject(data.response) ? data.response : undefined;
  if (!response) {
    v.push(`${at}: ${type} without a response object`);
    return;
  }
  if (response.status !== TERMINAL_STATUS[type]) v.push(`${at}: ${type} has status '${String(response.status)}'`);
  // OpenAI (and the pipeline relaying it) may fail mid-item; only a successful end must close everything.
  if (type === "response.failed") return;
  for (const [i, it] of items) if (!it.done) v.push(`${at}: output item ${i} still open at ${type}`);
  const output = Array.isArray(response.output) ? response.output : undefined;
  if (!output) v.push(`${at}: ${type} response has no output array`);
  else if (output.length !== items.size) v.push(`${at}: ${type} output has ${output.length} items, stream had ${items.size}`);
  else {
    output.forEach((o: unknown, i) => {
      const it = items.get(i);
      if (!isObject(o) || o.type !== it?.type || str(o.id) !== it?.id) v.push(`${at}: output[${i}] does not match the streamed item`);
    });
  }
}

function checkEvent(v: string[], at: string, type: string, data: JsonObject, items: Map<number, ItemTrack>): void {
  if (STREAM_LEVEL.has(type) || !type.startsWith("response.")) return;
  const index = data.output_index;
  if (type === "response.output_item.added") {
    const item = isObject(data.item) ? data.item : undefined;
    if (typeof index !== "number") return void v.push(`${at}: output_index missing`);
    if (index !== items.size) v.push(`${at}: output_index ${index}, expected ${items.size}`);
    if (items.has(index)) return void v.push(`${at}: output_index ${index} added twice`);
    items.set(index, { type: str(item?.type) ?? "?", id: str(item?.id), done: false, parts: [], args: "", argsDone: false, summaries: [] });
    return;
  }
  const it = typeof index === "number" ? items.get(index) : undefined;
  if (!it) return void v.push(`${at}: unknown output_index ${String(index)}`);
  if (it.done) return void v.push(`${at}: item ${String(index)} already done`);
  if (data.item_id !== undefined && data.item_id !== it.id) v.push(`${at}: item_id '${String(data.item_id)}' is not item ${String(index)}'s id`);
  const ci = typeof data.content_index === "number" ? data.content_index : -1;
  const si = typeof data.summary_index === "number" ? data.summary_index : -1;
  const part = it.parts[ci];
  const summary = it.summaries[si];
  switch (type) {
    case "response.output_item.done": {
      const item = isObject(data.item) ? data.item : {};
      if (item.type !== it.type || str(item.id) !== it.id) v.push(`${at}: item differs from the one added`);
      if (it.parts.some((p) => p.open)) v.push(`${at}: content part still open`);
      if (it.summaries.some((s) => s.open)) v.push(`${at}: summary part still open`);
      if (it.type === "function_call") {
        if (!it.argsDone) v.push(`${at}: function_call done before function_call_arguments.done`);
        if (item.arguments !== it.args) v.push(`${at}: final arguments differ from the streamed ones`);
      }
      if (it.type === "custom_tool_call") {
        if (!it.argsDone) v.push(`${at}: custom_tool_call done before custom_tool_call_input.done`);
        if (item.input !== it.args) v.push(`${at}: final input differs from the streamed one`);
      }
      it.done = true;
      return;
    }
    case "response.content_part.added":
      if (it.type !== "message") v.push(`${at}: content part on a ${it.type} item`);
      if (ci !== it.parts.length) v.push(`${at}: content_index ${ci}, expected ${it.parts.length}`);
      it.parts.push({ open: true, textDone: false, text: "" });
      return;
    case "response.content_part.done":
      if (!part?.open) return void v.push(`${at}: content part ${ci} not open`);
      if (!part.textDone) v.push(`${at}: content_part.done before its text done event`);
      part.open = false;
      return;
    case "response.output_text.delta":
    case "response.refusal.delta":
      if (!part?.open || part.textDone) return void v.push(`${at}: delta for content part ${ci} that is not open`);
      part.text += str(data.delta) ?? "";
      return;
    case "response.output_text.done":
    case "response.refusal.done": {
      if (!part?.open || part.textDone) return void v.push(`${at}: done for content part ${ci} that is not open`);
      const full = str(data.text) ?? str(data.refusal);
      if (full !== part.text) v.push(`${at}: full text differs from the deltas`);
      part.textDone = true;
      return;
    }
    case "response.function_call_arguments.delta":
      if (it.type !== "function_call" || it.argsDone) return void v.push(`${at}: arguments delta on a closed or non-call item`);
      it.args += str(data.delta) ?? "";
      return;
    case "response.function_call_arguments.done":
      if (it.type !== "function_call" || it.argsDone) return void v.push(`${at}: arguments done on a closed or non-call item`);
      if (data.arguments !== it.args) v.push(`${at}: arguments differ from the deltas`);
      it.argsDone = true;
      return;
    case "response.custom_tool_call_input.delta":
      if (it.type !== "custom_tool_call" || it.argsDone) return void v.push(`${at}: input delta on a closed or non-custom-call item`);
      it.args += str(data.delta) ?? "";
      return;
    case "response.custom_tool_call_input.done":
      if (it.type !== "custom_tool_call" || it.argsDone) return void v.push(`${at}: input done on a closed or non-custom-call item`);
      if (data.input !== it.args) v.push(`${at}: input differs from the deltas`);
      it.argsDone = true;
      return;
    case "response.reasoning_summary_part.added":
      if (it.type !== "reasoning") v.push(`${at}: summary part on a ${it.type} item`);
      if (si !== it.summaries.length) v.push(`${at}: summary_index ${si}, expected ${it.summaries.length}`);
      it.summaries.push({ open: true, text: "" });
      return;
    case "response.reasoning_summary_text.delta":
      if (!summary?.open) return void v.push(`${at}: delta for summary part ${si} that is not open`);
      summary.text += str(data.delta) ?? "";
      return;
    case "response.reasoning_summary_text.done":
      if (!summary?.open) return void v.push(`${at}: done for summary part ${si} that is not open`);
      if (data.text !== summary.text) v.push(`${at}: summary text differs from the deltas`);
      return;
    case "response.reasoning_summary_part.done":
      if (!summary?.open) return void v.push(`${at}: summary part ${si} not open`);
      summary.open = false;
      return;
    default:
      return;
  }
}
