/**
 * Admission in the request's life: the governance checks (deps.admissionChecks,
 * composed in main.ts) run against the principal, and the Admission they
 * return is ended by settlement on every exit path.
 */
import {
  accountActiveCheck,
  admit,
  admitAtOnce,
  clientAddressCheck,
  originCheck,
  type Admission,
  type AdmissionRequest,
  type AdmissionSubject,
} from "../governance/admission.js";
import { modelAllowed, type Principal } from "../governance/principals.js";
import type { PipelineDeps } from "./exchange.js";

export type { Admission };

/** The principal as admission sees it; built once per principal (a principal lives as long as its principals snapshot). */
const subjects = new WeakMap<Principal, AdmissionSubject>();

function subjectOf(p: Principal): AdmissionSubject {
  let s = subjects.get(p);
  if (!s) {
    s = {
      accountId: p.account.id,
      apiKeyId: p.apiKeyId,
      chain: p.chain,
      modelAllowed: (model) => modelAllowed(p, model),
      policy: p.policy,
      keyLimits: p.keyLimits,
    };
    subjects.set(p, s);
  }
  return s;
}

export function admitRequest(deps: PipelineDeps, principal: Principal, request: AdmissionRequest): Admission | Promise<Admission> {
  return admitAtOnce(deps.admissionChecks, subjectOf(principal), request, {
    onEndError: (err) => deps.logger.error({ err, account: principal.account.id }, "admission did not end cleanly; its holds expire by TTL"),
  });
}

/** Who asks and from where, without a model: the account chain active, the address and the browser origin allowed. */
const CALLER_CHECKS = [accountActiveCheck, clientAddressCheck, originCheck];

/** Admits a request that names no model (listing the models a key may use) by the checks every request passes first; holds nothing. */
export async function admitCaller(principal: Principal, request: Pick<AdmissionRequest, "clientAddress" | "origin">): Promise<void> {
  await (await admit(CALLER_CHECKS, subjectOf(principal), { model: "", stream: false, ...request })).release();
}
