/**
 * An upstream's timeouts: its settings, or these defaults. One place, so the attempt
 * that applies them and the admin API that shows them agree (the YAML schema states
 * the same defaults for the file).
 */

/** Response head, and between body chunks: long, since reasoning models think for minutes. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 600_000;
/** Establishing the TCP (and TLS) connection. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

export interface UpstreamTimeouts {
  timeoutMs: number;
  connectTimeoutMs: number;
}

const positive = (v: unknown): number | undefined => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : undefined);

export function upstreamTimeouts(settings: Record<string, unknown>): UpstreamTimeouts {
  return {
    timeoutMs: positive(settings.timeout_ms) ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
    connectTimeoutMs: positive(settings.connect_timeout_ms) ?? DEFAULT_CONNECT_TIMEOUT_MS,
  };
}
