/** Helpers the protocols' meters share (see ProtocolMeter in ../codec.ts). */

/** A token count off the wire: a finite, non-negative number; undefined for anything else (absent, null, garbage). */
export function tokenCount(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
}

const utf8 = new TextEncoder();

/** Byte patterns for literal texts. */
export function byteTriggers(...texts: string[]): Uint8Array[] {
  return texts.map((t) => utf8.encode(t));
}

/** `event: NAME` lines (a prefix of NAME is enough), with and without the optional space after the colon. */
export function eventLineTriggers(...names: string[]): Uint8Array[] {
  return byteTriggers(...names.flatMap((n) => [`event: ${n}`, `event:${n}`]));
}

/** A meter's triggers when it acts on events by their names alone (ProtocolMeter.triggerEvents). */
export function eventNameTriggers(...names: string[]): { triggers: Uint8Array[]; triggerEvents: string[] } {
  return { triggers: eventLineTriggers(...names), triggerEvents: names };
}
