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
 * Set at run time rather than on node's command line so it holds however the gateway is started
 * (`npm start`, the `switchyard` bin, a container's own command); Node refuses it in NODE_OPTIONS.
 * Set before the gateway starts, it works as the command-line flag does: the same `--trace-gc`
 * figures under `npm run bench`.
 */
import { setFlagsFromString } from "node:v8";

/** The V8 flags `tuneV8ForServing` sets, in order. */
export const SERVING_V8_FLAGS: readonly string[] = ["--no-allocation-site-pretenuring"];

/** Applies {@link SERVING_V8_FLAGS} to this process's V8. Call once, before the gateway starts. */
export function tuneV8ForServing(): void {
  for (const flag of SERVING_V8_FLAGS) setFlagsFromString(flag);
}
