/**
 * A generate request's life, top to bottom (docs/architecture.md#a-requests-life): authenticate → admit (what was
 * reserved) → read and resolve → plan (each attempt's lane is fixed there) →
 * attempts, each relayed by its lane → settle, whatever happened. Errors
 * thrown before the first byte are rendered by the edge in the client's
 * protocol; after it, the lanes end the stream with a protocol error event.
 */
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage } from "../canonical/usage.js";
import type { CatalogSnapshot } from "../routing/catalog.js";
import { planAttempts, type Lane, type Plan } from "../routing/plan.js";
import { resolveModel, type ModelResolution } from "../routing/resolve-model.js";
import { affinityKey } from "./affinity.js";
import { admitRequest, type Admission } from "./admit.js";
import { estimateTokens } from "./estimate.js";
import { Attempt } from "./attempt.js";
import { authenticate } from "./authenticate.js";
import { mappingSource } from "./mapping.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import type { AnswerOutcome, ClientRequest, LaneDriver } from "./lane.js";
import { runPassthrough } from "./passthrough-lane.js";
import { parseBody, requireModel } from "./request-body.js";
import { failureOutcome, settle, type Outcome } from "./settle.js";
import { stoppedBy } from "./stop.js";
import { runTranslate } from "./translate-lane.js";
import { watchAnswer } from "./write-client.js";

const LANES: Record<Lane, LaneDriver> = { passthrough: runPassthrough, translate: runTranslate };

export async function handleGenerate(deps: PipelineDeps, ex: Exchange): Promise<Outcome> {
  // The HTTP edge authenticates before reading the body; a WebSocket turn arrives without a principal.
  ex.principal ??= await authenticate(ex.headers, deps.principals);
  watchAnswer(ex, deps.routeHeader === true);
  let admission: Admission | undefined;
  let outcome: Outcome | undefined;
  try {
    const request = readRequest(ex);
    const snapshot = deps.catalog.snapshot;
    const resolution = resolveRequest(snapshot, ex, request);
    // Admission judges the model that will be used; a mapping only ever names one the account may use.
    const admitted = admitRequest(deps, ex.principal, {
      model: resolution.served,
      stream: request.stream,
      clientAddress: ex.clientAddress,
      origin: typeof ex.headers.origin === "string" ? ex.headers.origin : undefined,
      estimate: estimateTokens(request.body, deps.defaultOutputTokens),
    });
    // Admitted within the call on an in-process meter: no turn of the microtask queue for it.
    admission = admitted instanceof Promise ? await admitted : admitted;
    const plan = planRequest(deps, snapshot, ex, request, resolution);
    outcome = await runAttempts(deps, ex, request, plan);
    return outcome;
  } catch (err) {
    outcome = failureOutcome(err, ex);
    throw err;
  } finally {
    settle(deps, ex, admission, outcome);
  }
}

function readRequest(ex: Exchange): ClientRequest {
  const body = parseBody(ex.body);
  const model = requireModel(body);
  const stream = body.read("stream") === true;
  ex.model = model;
  ex.stream = stream;
  const affinity = affinityKey(ex, ex.principal!, body, model);
  ex.cacheKey = affinity.key;
  const chained = ex.socketTurn?.chained;
  return { body, model, stream, affinity, ...(chained ? { chained: { body: parseBody(chained.body), previousId: chained.previousId } } : {}) };
}

/** The served model and its upstreams, under the account's mappings and the gateway's. */
function resolveRequest(snapshot: CatalogSnapshot, ex: Exchange, request: ClientRequest): ModelResolution {
  const resolution = resolveModel(snapshot, ex.protocol, request.model, mappingSource(ex.principal!.policy), ex.principal!.chain);
  ex.servedModel = resolution.served;
  return resolution;
}

function planRequest(deps: PipelineDeps, snapshot: CatalogSnapshot, ex: Exchange, request: ClientRequest, resolution: ModelResolution): Plan {
  const plan = planAttempts(snapshot, deps.keyHealth, {
    model: request.model,
    client: ex.protocol,
    clientStreams: request.stream,
    affinity: request.affinity.key,
    maxAttempts: deps.maxAttempts,
    now: deps.now?.() ?? Date.now(),
    resolution,
    router: deps.tierRouter,
  });
  if (plan.attempts.length > 0) return plan;
  throw plan.servedAnywhere
    ? new GatewayError("overloaded", "no_upstream_key", `No upstream credential is available for model '${request.model}'.`, { status: 503 })
    : new GatewayError("not_found", "model_not_found", `The model '${request.model}'${mappedTo(resolution)} is not served by this gateway.`, {
        param: "model",
      });
}

/** Names the served model when a rule mapped the request, so an admin sees which rule points nowhere. */
function mappedTo(resolution: ModelResolution): string {
  return resolution.rule ? ` (mapped to '${resolution.served}' by the rule '${resolution.rule.source}')` : "";
}

/**
 * Tries the plan in order until one attempt answers; a retryable failure before the first byte
 * moves on, within the attempt budget (the plan's length) and the deadline for a first byte
 * (docs/routing.md#failover).
 */
async function runAttempts(deps: PipelineDeps, ex: Exchange, request: ClientRequest, plan: Plan): Promise<Outcome> {
  let lastError: GatewayError | undefined;
  ex.attempts = 0;
  const deadlineAt = deps.deadlineMs === undefined ? Number.POSITIVE_INFINITY : ex.startedAt + deps.deadlineMs;
  for (let i = 0; i < plan.attempts.length; i++) {
    const planned = plan.attempts[i]!;
    if (ex.signal.aborted) break;
    if (performance.now() >= deadlineAt) {
      lastError ??= new GatewayError("timeout", "upstream_timeout", "The upstream did not answer in time.");
      deps.logger.warn({ requestId: ex.id, attempts: ex.attempts, deadlineMs: deps.deadlineMs }, "request deadline passed before a first byte");
      break;
    }
    ex.attempts++;
    ex.lastAttempt = planned;
    const attempt = new Attempt(deps, ex, planned, i === plan.attempts.length - 1, deadlineAt);
    const result = await LANES[planned.lane](deps, ex, attempt, request);
    if (result.kind === "done") return withLane(result.outcome, planned.lane);
    lastError = result.error;
  }
  if (ex.signal.aborted) {
    const stopped = stoppedBy(ex.signal);
    if (stopped) throw stopped;
    return { status: 499, usage: emptyUsage(), errorCode: "client_closed" };
  }
  throw lastError ?? new GatewayError("upstream", "upstream_error", "No upstream attempt succeeded.");
}

/**
 * The outcome with its lane, written out field by field: `{ ...outcome, lane }` gave every request's
 * outcome a hidden class of its own, and every read of it in `settle` missed its inline cache
 * (canonical/shared-shape.ts).
 */
function withLane(outcome: AnswerOutcome, lane: Lane): Outcome {
  return { status: outcome.status, usage: outcome.usage, errorCode: outcome.errorCode, lane };
}
