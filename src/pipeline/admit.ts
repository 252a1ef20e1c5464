/**
 * Admission checks, each with its own stable error code. Later governance
 * (rate limits, quotas, credit) adds checks here.
 */
import { GatewayError } from "../canonical/errors.js";
import { modelAllowed, type Principal } from "../governance/principals.js";

export function admit(principal: Principal, model: string): void {
  for (const a of principal.chain) {
    if (a.status !== "active") {
      throw new GatewayError("permission", "account_disabled", `Account '${a.name}' is disabled.`);
    }
  }
  if (!modelAllowed(principal, model)) {
    throw new GatewayError("permission", "model_not_allowed", `This key may not use model '${model}'.`, { param: "model" });
  }
}
