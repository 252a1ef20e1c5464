/**
 * What happens when a key changes state: metrics, a log line (an alert-level one when
 * the upstream rejects a key: someone must replace or re-enable it), and in a cluster
 * the transition is published so the other nodes apply it within a second.
 */
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import type { KeyHealthEvent } from "./key-health.js";
import type { KeyStateBus, SharedKeyState } from "./key-state-bus.js";
import { withMembers } from "../canonical/shared-shape.js";

export interface KeyEventDeps {
  logger: Logger;
  metrics: Metrics;
  /** Set in a cluster (`redis_url`): local transitions are published on it. */
  bus?: KeyStateBus;
  /** This node's id on the bus. */
  node: string;
}

const SHARED: ReadonlySet<string> = new Set<SharedKeyState>(["healthy", "cooling", "open", "disabled"]);

export function keyEventHandler(d: KeyEventDeps): (e: KeyHealthEvent) => void {
  return (e) => {
    const upstream = e.key.upstream ?? "unknown";
    d.metrics.keyTransitions.inc({ upstream, from: e.from, to: e.to });
    const line = {
      upstream,
      key: e.key.fingerprint,
      from: e.from,
      to: e.to,
      reason: e.reason,
      until: e.until > 0 ? new Date(e.until).toISOString() : undefined,
      remote: e.remote || undefined,
    };
    if (e.to === "disabled" && !e.remote) {
      d.metrics.keyDisabled.inc({ upstream });
      // Alert level: the key stays out until an admin acts (replace it, or re-add it once the account is fixed).
      d.logger.error(withMembers(line, { alert: true }), "upstream key disabled: the upstream rejected it");
    } else if (e.to === "cooling" && e.cls) {
      d.metrics.keyCooldowns.inc({ upstream, class: e.cls });
      d.logger.warn(line, "upstream key cooling down");
    } else if (e.to === "healthy") {
      d.logger.info(line, "upstream key healthy again");
    } else {
      d.logger.warn(line, "upstream key state changed");
    }
    if (d.bus && !e.remote && SHARED.has(e.to)) {
      d.bus.publish({
        keyId: e.key.id,
        fingerprint: e.key.fingerprint,
        state: e.to as SharedKeyState,
        reason: e.reason,
        until: e.until,
        at: e.at,
        origin: d.node,
      });
    }
  };
}
