/**
 * A request's signal is aborted for one of two reasons: the client went away,
 * or the gateway itself stopped the request (the end of a shutdown's grace).
 * The two end differently: nobody is left to tell in the first case, while in
 * the second the client is still connected and gets an error event in its own
 * protocol, and the usage record names the gateway's reason instead of
 * calling the request cancelled. The gateway marks its own stops by aborting
 * with the GatewayError to report as the signal's reason.
 */
import { GatewayError } from "../canonical/errors.js";

/** The error the gateway stopped this request with, or undefined (not aborted, or the client left). */
export function stoppedBy(signal: AbortSignal): GatewayError | undefined {
  return signal.aborted && signal.reason instanceof GatewayError ? signal.reason : undefined;
}

/** The client went away: aborted, and not by the gateway. */
export function clientGone(signal: AbortSignal): boolean {
  return signal.aborted && !(signal.reason instanceof GatewayError);
}
