/**
 * BENCH_CODEC_OTHER_BUILD: another build of the project (the directory `tsc -p tsconfig.build.json`
 * writes). Section 3b of `npm run bench:codecs` then times each stream conversion on that build
 * too, in the same group as this build's, taking turns round by round, and prints this build's
 * time as a multiple of the other's: an A/B of two builds in one process, as `npm run bench`'s
 * `other-build` target is for the whole gateway. Each build converts with its own codecs; the
 * inputs (the upstream stream's chunks, the client's canonical request) are this build's.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { CanonicalRequest } from "../src/canonical/request.js";
import type { ClientProtocol } from "../src/protocols/codec.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import type { Operation } from "./codecs-timing.js";

export interface OtherBuild {
  /** The build's directory, resolved. */
  readonly dir: string;
  /** The other build's `codecs-cases.ts` `streamConversionOp`. */
  streamConversionOp(chunks: readonly Buffer[], canonical: CanonicalRequest, client: ClientProtocol, upstream: UpstreamProtocol): Operation;
}

/** The build BENCH_CODEC_OTHER_BUILD names, loaded; undefined when it is unset. */
export async function loadOtherBuild(env: NodeJS.ProcessEnv): Promise<OtherBuild | undefined> {
  const dir = env.BENCH_CODEC_OTHER_BUILD?.trim();
  if (!dir) return undefined;
  const file = resolve(dir, "bench", "codecs-cases.js");
  if (!existsSync(file)) throw new Error(`BENCH_CODEC_OTHER_BUILD: ${file} does not exist (build that version with tsc -p tsconfig.build.json)`);
  const cases = (await import(pathToFileURL(file).href)) as Partial<OtherBuild>;
  if (typeof cases.streamConversionOp !== "function") throw new Error(`BENCH_CODEC_OTHER_BUILD: ${file} has no streamConversionOp`);
  return { dir: resolve(dir), streamConversionOp: cases.streamConversionOp };
}
