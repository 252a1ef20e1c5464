/**
 * Warnings for client fields an upstream of another protocol never receives.
 * Each client codec keeps what the canonical model has no place for in its own
 * `extensions` entry; only an upstream of the same protocol gets those back, so
 * when the translate lane sends a request elsewhere, each such field is lost and
 * the client is told which (docs/protocols.md#conventions).
 */
import type { TranslationWarning } from "../codec.js";

/** Collects the warnings of one request, once per field. */
export class DroppedFields {
  readonly #seen = new Set<string>();
  readonly warnings: TranslationWarning[] = [];

  /** A field the client set (`logprobs`, `text.verbosity`, `messages[].name` …). */
  field(field: string): void {
    this.#add("unsupported_parameter", field, `'${field}' has no equivalent in the upstream's protocol and was not sent.`);
  }

  /** Input items or content blocks of a type the upstream's protocol cannot hold (`input[type=web_search_call]`). */
  content(field: string): void {
    this.#add("content_dropped", field, `${field} has no equivalent in the upstream's protocol and was not sent.`);
  }

  /** Every key of a leftover object, as `prefix.key`. */
  keysOf(prefix: string, obj: unknown, except: ReadonlySet<string> = new Set()): void {
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      if (obj !== undefined) this.field(prefix);
      return;
    }
    for (const [k, v] of Object.entries(obj)) if (v !== undefined && !except.has(k)) this.field(`${prefix}.${k}`);
  }

  #add(code: string, field: string, message: string): void {
    const key = `${code}:${field}`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    this.warnings.push({ code, message, field });
  }
}
