/**
 * What the two lanes share: the request as the pipeline has read it, the
 * driver signature, and how a lane's attempt ended.
 */
import type { GatewayError } from "../canonical/errors.js";
import type { Usage } from "../canonical/usage.js";
import type { Affinity } from "./affinity.js";
import type { Attempt } from "./attempt.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import type { ParsedBody } from "./request-body.js";

/** A generate request after reading: what every attempt starts from. */
export interface ClientRequest {
  body: ParsedBody;
  model: string;
  stream: boolean;
  affinity: Affinity;
  /** A WebSocket turn's frame as the client sent it, chained from `previousId` (pipeline/upstream-socket-session.ts). */
  chained?: { body: ParsedBody; previousId: string };
}

/** How an answered request ended, as far as the client saw it. */
export interface AnswerOutcome {
  status: number;
  usage: Usage;
  /** The stable code when the answer was an error (or a stream that broke). */
  errorCode?: string;
}

export type LaneResult = { kind: "done"; outcome: AnswerOutcome } | { kind: "retry"; error: GatewayError };

/** Runs one attempt of a request on one lane. */
export type LaneDriver = (deps: PipelineDeps, ex: Exchange, attempt: Attempt, request: ClientRequest) => Promise<LaneResult>;
