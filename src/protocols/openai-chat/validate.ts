/**
 * Strict validator for Chat Completions streams the gateway emits (docs/architecture.md#codecs-and-validators;
 * docs/protocols.md#chat-streaming). Returns every violation found; empty means valid.
 * Rules: no `event:` names; every chunk has the same id/created/model and
 * object `chat.completion.chunk`; the first chunk of a choice carries role
 * "assistant"; the first fragment of a tool call index carries id, type and
 * function.name, and indexes appear in order 0, 1, 2 …; a choice finishes at
 * most once and says nothing after; the usage chunk has `choices:[]` and comes
 * last before `[DONE]`; `[DONE]` ends the stream exactly once. An error chunk
 * `{error:{message,type}}` also ends it, and nothing may follow.
 */
import { isRecord, tryParseJson } from "../common/guards.js";

const FINISH = new Set(["stop", "length", "tool_calls", "content_filter", "function_call"]);

interface ChoiceState {
  finished: boolean;
  tools: Map<number, string>;
}

function isCount(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

function checkUsage(u: unknown, where: string, problems: string[]): void {
  if (!isRecord(u)) {
    problems.push(`${where}: usage must be an object`);
    return;
  }
  for (const k of ["prompt_tokens", "completion_tokens", "total_tokens"]) {
    if (!isCount(u[k])) problems.push(`${where}: usage.${k} must be a non-negative integer`);
  }
  if (isCount(u.prompt_tokens) && isCount(u.completion_tokens) && u.total_tokens !== (u.prompt_tokens as number) + (u.completion_tokens as number)) {
    problems.push(`${where}: usage.total_tokens must equal prompt_tokens + completion_tokens`);
  }
}

export function validateChatStream(events: ReadonlyArray<{ event?: string | undefined; data: unknown }>): string[] {
  const problems: string[] = [];
  let head: { id: unknown; created: unknown; model: unknown } | undefined;
  let done = false;
  let errored = false;
  let usageSeen = false;
  const choices = new Map<number, ChoiceState>();

  events.forEach((e, i) => {
    const at = `event ${i}`;
    if (e.event !== undefined) problems.push(`${at}: Chat streams carry no event name (got "${e.event}")`);
    if (done || errored) {
      problems.push(`${at}: nothing may follow ${done ? "[DONE]" : "an error chunk"}`);
      return;
    }
    if (e.data === "[DONE]") {
      done = true;
      return;
    }
    const data = typeof e.data === "string" ? tryParseJson(e.data) : e.data;
    if (!isRecord(data)) {
      problems.push(`${at}: data must be a chunk object or "[DONE]"`);
      return;
    }
    if (data.error !== undefined) {
      errored = true;
      if (!isRecord(data.error) || typeof data.error.message !== "string" || typeof data.error.type !== "string") {
        problems.push(`${at}: error chunk needs error.message and error.type`);
      }
      return;
    }
    if (data.object !== "chat.completion.chunk") problems.push(`${at}: object must be "chat.completion.chunk"`);
    if (typeof data.id !== "string" || data.id === "") problems.push(`${at}: id missing`);
    if (typeof data.created !== "number") problems.push(`${at}: created must be a number`);
    if (typeof data.model !== "string") problems.push(`${at}: model must be a string`);
    if (!head) head = { id: data.id, created: data.created, model: data.model };
    else if (data.id !== head.id || data.created !== head.created || data.model !== head.model) {
      problems.push(`${at}: id/created/model differ from the first chunk`);
    }
    if (!Array.isArray(data.choices)) {
      problems.push(`${at}: choices must be an array`);
      return;
    }
    if (usageSeen) problems.push(`${at}: chunk after the usage chunk`);
    if (data.usage !== undefined && data.usage !== null) {
      usageSeen = true;
      if (data.choices.length !== 0) problems.push(`${at}: the usage chunk must have choices: []`);
      checkUsage(data.usage, at, problems);
    }
    for (const c of data.choices) {
      if (!isRecord(c) || !isCount(c.index)) {
        problems.push(`${at}: choice needs an integer index`);
        continue;
      }
      const where = `${at} choice ${String(c.index)}`;
      let state = choices.get(c.index as number);
      const first = !state;
      if (!state) {
        state = { finished: false, tools: new Map() };
        choices.set(c.index as number, state);
      }
      if (state.finished) problems.push(`${where}: content after finish_reason`);
      const d = c.delta;
      if (!isRecord(d)) {
        problems.push(`${where}: delta must be an object`);
        continue;
      }
      if (first && d.role !== "assistant") problems.push(`${where}: the first chunk must carry role "assistant"`);
      if (d.role !== undefined && d.role !== "assistant") problems.push(`${where}: role must be "assistant"`);
      for (const k of ["content", "reasoning_content", "refusal"]) {
        if (d[k] !== undefined && d[k] !== null && typeof d[k] !== "string") problems.push(`${where}: delta.${k} must be a string`);
      }
      if (d.tool_calls !== undefined) {
        if (!Array.isArray(d.tool_calls)) problems.push(`${where}: tool_calls must be an array`);
        else for (const t of d.tool_calls) checkToolFragment(t, state, where, problems);
      }
      if (c.finish_reason !== null && c.finish_reason !== undefined) {
        if (!FINISH.has(String(c.finish_reason))) problems.push(`${where}: unknown finish_reason "${String(c.finish_reason)}"`);
        state.finished = true;
        for (const [index, args] of state.tools) {
          if (args !== "" && tryParseJson(args) === undefined) problems.push(`${where}: tool call ${index} arguments are not valid JSON`);
        }
      } else if (c.finish_reason !== null) {
        problems.push(`${where}: finish_reason must be present (null until the end)`);
      }
    }
  });
  if (!done && !errored) problems.push("stream did not end with [DONE]");
  for (const [index, state] of choices) if (done && !state.finished) problems.push(`choice ${index} never got a finish_reason`);
  return problems;
}

function checkToolFragment(t: unknown, state: ChoiceState, where: string, problems: string[]): void {
  if (!isRecord(t) || !isCount(t.index)) {
    problems.push(`${where}: tool call fragment needs an integer index`);
    return;
  }
  const index = t.index as number;
  const fn = isRecord(t.function) ? t.function : undefined;
  const args = typeof fn?.arguments === "string" ? fn.arguments : "";
  if (fn?.arguments !== undefined && typeof fn.arguments !== "string") problems.push(`${where}: tool ${index} arguments must be a string`);
  const seen = state.tools.get(index);
  if (seen === undefined) {
    if (index !== state.tools.size) problems.push(`${where}: tool index ${index} out of order (expected ${state.tools.size})`);
    if (typeof t.id !== "string" || t.id === "") problems.push(`${where}: first fragment of tool ${index} needs an id`);
    if (t.type !== "function") problems.push(`${where}: first fragment of tool ${index} needs type "function"`);
    if (typeof fn?.name !== "string" || fn.name === "") problems.push(`${where}: first fragment of tool ${index} needs function.name`);
    state.tools.set(index, args);
    return;
  }
  if (t.id !== undefined) problems.push(`${where}: only the first fragment of tool ${index} may carry an id`);
  if (fn?.name !== undefined) problems.push(`${where}: only the first fragment of tool ${index} may carry a name`);
  state.tools.set(index, seen + args);
}
