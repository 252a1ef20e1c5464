/**
 * Ids for the response and its output items, derived from the upstream
 * response id so one answer always gets the same ids (tests and logs can match
 * them) while two answers never share one. Prefixes follow OpenAI's
 * (`resp_`, `msg_`, `fc_`, `ctc_`, `rs_`), which clients use to tell item kinds apart.
 */
import { randomBytes } from "node:crypto";

export class ItemIds {
  private readonly base: string;
  private n = 0;
  readonly responseId: string;

  constructor(upstreamId: string, now: number) {
    const core = upstreamId.replace(/^(resp|msg|chatcmpl)[_-]/, "").replace(/[^A-Za-z0-9]/g, "");
    // Without an upstream id there is nothing to derive from; random keeps two answers apart.
    this.base = core.slice(0, 40) || `gw${now.toString(36)}${randomBytes(6).toString("hex")}`;
    this.responseId = upstreamId.startsWith("resp_") ? upstreamId : `resp_${this.base}`;
  }

  next(prefix: "msg" | "fc" | "ctc" | "rs"): string {
    return `${prefix}_${this.base}${(this.n++).toString(36).padStart(3, "0")}`;
  }
}
