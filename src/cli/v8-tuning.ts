/**
 * V8 settings for a gateway that serves traffic, applied by `switchyard serve` before the gateway
 * starts (and by the benchmark's gateway, which starts the way `serve` does).
 *
 * `--no-allocation-site-pretenuring`: V8 counts, at each young-generation collection, how many of
 * the objects an allocation site made since the last one are still alive; past 85 % (after at least
 * 100 of them) it makes that site allocate straight into the old generation, which only a full
 * collection frees (https://wingolog.org/archives/2026/01/05/pre-tenuring-in-v8, and the design in
 * Clifford et al., "Memento Mori", ISMM 2015). Under the gateway's load this went wrong: a sample of
 * the objects that outlived the young generation (V8's sampling heap profiler, counting objects that
 * only a full collection freed) was made of requests' own objects, the server handler's closures and
 * the request and response objects, though a request lives a few milliseconds and young collections
 * came every 45. With `npm run bench` at 50 connections the old generation grew by 1.2 MB at each
 * young collection instead of 0.25 MB, a young collection took about twice as long, and GC time a
 * request fell from 19–82 µs to 8–23 µs with this setting (docs/architecture.md, measured facts).
 *
 * `--heap-growing-percent=200`: after each full collection the old generation may grow to three
 * times what survived it before the next one. V8 otherwise picks that factor from how much time
 * collection took, and V8 11 (Node 20) counts the ArrayBuffers allocated since the last full
 * collection (socket reads, request bodies and their copies: 150–230 KB a 40–76 KB request) as if
 * they were old-generation bytes (`Heap::OldGenerationSpaceAvailable`, "historic behavior"; newer V8
 * has `--external-memory-accounted-in-global-limit` instead). At one connection young collections are
 * rare, and V8, seeing collection fast next to how slowly the old generation grew, picked factors
 * of 1.2–2.0 (`--trace-gc-verbose`): 5–26 MB of headroom on a 26 MB heap, used up by the
 * ArrayBuffers before the 32 MB of young ArrayBuffers at which V8 runs a young collection (which
 * frees them). So a full collection came every 100–200 ms, four to seven a second under the agent
 * workloads. With a factor of 3 the young collection comes first and the loop does not start
 * (docs/architecture.md, measured facts).
 *
 * `--max-inlined-bytecode-size-cumulative=1840`: the bytecode TurboFan may inline into one optimised
 * function, twice V8's default of 920. The request path is many small functions and closures a few
 * calls deep (a stream's relay, the meter, the opening hold, the governance lines); with the default,
 * a function's budget runs out before its callees' callees, which stay calls, each with inline
 * caches of its own. In same-build A/Bs loaded together (`BENCH_OTHER_NODE_OPTIONS`, three rounds,
 * chat-1k, stream-1k, sdk-stream-1k, chat-40k, codex-stream-40k and claude-stream-76k at 1 and 50
 * connections, two runs) the build with it used 2–5 % less CPU a request on every phase; four times
 * the default gained no more and held about 5 MB more of code (bench/README.md, the fourteenth stop).
 *
 * Set at run time rather than on node's command line so it holds however the gateway is started
 * (`npm start`, the `switchyard` bin, a container's own command); Node refuses both in NODE_OPTIONS.
 * Set before the gateway starts, each works as the command-line flag does: the same `--trace-gc`
 * figures under `npm run bench`, and V8's own account of the growing factor (`--trace-gc-verbose`).
 */
import { setFlagsFromString } from "node:v8";

/** The V8 flags `tuneV8ForServing` sets, in order. */
export const SERVING_V8_FLAGS: readonly string[] = [
  "--no-allocation-site-pretenuring",
  "--heap-growing-percent=200",
  "--max-inlined-bytecode-size-cumulative=1840",
];

/** Applies {@link SERVING_V8_FLAGS} to this process's V8. Call once, before the gateway starts. */
export function tuneV8ForServing(): void {
  for (const flag of SERVING_V8_FLAGS) setFlagsFromString(flag);
}
