/**
 * Admission: checks that run before any upstream is tried, each with its own
 * stable error code. An admission records what it reserved so settlement can
 * release it on every exit path; today's checks reserve nothing.
 */
import { GatewayError } from "../canonical/errors.js";
import type { Usage } from "../canonical/usage.js";
import { modelAllowed, type Principal } from "../routing/catalog.js";

export interface AdmissionOutcome {
  status: number;
  usage: Usage;
  aborted: boolean;
}

export interface Admission {
  /** Settles or releases everything admitted; called exactly once per admitted request. */
  settle(outcome: AdmissionOutcome): void;
}

const NOTHING_RESERVED: Admission = { settle() {} };

export async function admit(principal: Principal, model: string): Promise<Admission> {
  for (const a of principal.chain) {
    if (a.status !== "active") {
      throw new GatewayError("permission", "account_disabled", `Account '${a.name}' is disabled.`);
    }
  }
  if (!modelAllowed(principal, model)) {
    throw new GatewayError("permission", "model_not_allowed", `This key may not use model '${model}'.`, { param: "model" });
  }
  return NOTHING_RESERVED;
}
