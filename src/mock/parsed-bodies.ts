/**
 * The parse of request bodies the mock has seen, reused for a body byte for byte the same.
 *
 * For the benchmark (bench/README.md), whose load generator sends each workload's one body again
 * and again: the mock shares a core with the load generator, and parsing the 77 KB Claude Code
 * body took most of the mock's time (`JSON.parse` of its UTF-8 text: a string that long with
 * non-ASCII text is one V8 builds slowly), so that core saturated long before the proxies being
 * measured did (bench/README.md, caveats, has the A/B). A reused parse is frozen, deeply: an answer that changed the request
 * it was built from would throw rather than change the next answer.
 */

interface Seen {
  bytes: Buffer;
  json: unknown;
}

export class ParsedBodies {
  /** By body length, most recently added last; one body per length. */
  readonly #seen = new Map<number, Seen>();

  /** @param capacity How many distinct bodies are kept; past it the oldest is dropped. */
  constructor(private readonly capacity: number) {}

  /** `JSON.parse(body.toString("utf8"))`, frozen, or that of an earlier body with the same bytes; throws as JSON.parse does. */
  parse(body: Buffer): unknown {
    const seen = this.#seen.get(body.length);
    if (seen?.bytes.equals(body)) return seen.json;
    const json = deepFreeze(JSON.parse(body.toString("utf8")));
    this.#seen.delete(body.length);
    this.#seen.set(body.length, { bytes: Buffer.from(body), json });
    if (this.#seen.size > this.capacity) this.#seen.delete(this.#seen.keys().next().value!);
    return json;
  }
}

function deepFreeze(root: unknown): unknown {
  // Without recursion: JSON nests as deep as it likes.
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const v = stack.pop();
    if (v === null || typeof v !== "object" || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v)) stack.push(child);
  }
  return root;
}
