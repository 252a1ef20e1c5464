/**
 * The passthrough lane's budget, checked against one run: each target of the budget beside this
 * run's figure, met or missed. The budget (docs/architecture.md#measured-facts, "Budget") holds the
 * gateway with governance on against a bare Node proxy measured in the same run.
 */
import { table, type Comparison, type LaneComparison, type MemoryReport } from "./report.js";

export const BUDGET = {
  /** CPU a request ÷ the bare proxy's, on 1 KB bodies, streaming and not, at any concurrency. */
  smallBodyCpu: 1.3,
  /** The same on the 40–76 KB bodies coding agents send. */
  agentBodyCpu: 1.0,
  /** Time to first byte added at the 50-connection concurrency the budget names, median (ms)... */
  addedFirstByteP50Ms: 0.5,
  /** ...and at the 99th percentile: within this of the bare proxy's (ms). */
  addedFirstByteP99Ms: 5,
  /** The concurrency the time-to-first-byte targets are stated at. */
  firstByteConnections: 50,
  /** Resident memory right after the load (MB). */
  rssAfterLoadMb: 150,
  /** The kernel's high-water mark of resident memory over the run (MB). */
  rssPeakMb: 200,
  /** CPU a request of the translate lane ÷ the passthrough lane's, on the same 76 KB body. */
  translateCpu: 1.5,
} as const;

export interface TargetCheck {
  /** Which target: "CPU ÷ bare proxy, 1 KB body", "added TTFB p50", … */
  target: string;
  /** The phase it was read from ("chat-1k c50"), or what it covers ("the run"). */
  phase: string;
  value: number;
  limit: number;
  unit: "x" | "ms" | "MB";
  /** value ≤ limit; a figure the run could not take (not finite) is missed. */
  met: boolean;
}

const MB = 1024 * 1024;

function check(target: string, phase: string, value: number, limit: number, unit: TargetCheck["unit"]): TargetCheck {
  return { target, phase, value, limit, unit, met: Number.isFinite(value) && value <= limit };
}

/**
 * Every target this run can speak to. `gateway`: the gateway's phases against the bare proxy;
 * `lanes`: its translate phases against their passthrough twins; `memory`: its resident memory;
 * `smallBodies`: the workloads whose body is 1 KB (every other passthrough workload carries an
 * agent's 40–76 KB). A target the run has no phase for is left out, not counted as met.
 */
export function checkTargets(
  gateway: readonly Comparison[],
  lanes: readonly LaneComparison[],
  memory: MemoryReport | undefined,
  smallBodies: ReadonlySet<string>,
): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const c of gateway) {
    const small = smallBodies.has(c.workload);
    out.push(check(`CPU ÷ bare proxy, ${small ? "1 KB" : "40–76 KB"} body`, c.phase, c.cpuPerReq, small ? BUDGET.smallBodyCpu : BUDGET.agentBodyCpu, "x"));
  }
  for (const c of gateway) {
    if (!c.stream || c.connections !== BUDGET.firstByteConnections) continue;
    out.push(check("added TTFB p50", c.phase, c.addedFirstByteP50Ms, BUDGET.addedFirstByteP50Ms, "ms"));
    out.push(check("added TTFB p99", c.phase, c.addedFirstByteP99Ms, BUDGET.addedFirstByteP99Ms, "ms"));
  }
  if (memory) {
    out.push(check("RSS after load", "the run", memory.afterLoad / MB, BUDGET.rssAfterLoadMb, "MB"));
    out.push(check("RSS peak", "the run", memory.peak / MB, BUDGET.rssPeakMb, "MB"));
  }
  for (const l of lanes) out.push(check("translate ÷ passthrough CPU", l.phase, l.cpuPerReq, BUDGET.translateCpu, "x"));
  return out;
}

function shown(value: number, unit: TargetCheck["unit"]): string {
  if (!Number.isFinite(value)) return "-";
  if (unit === "x") return `${value.toFixed(2)}x`;
  if (unit === "ms") return `${value >= 0 ? "+" : ""}${value.toFixed(2)} ms`;
  return `${value.toFixed(0)} MB`;
}

/** The checks as a table, then how many were met. */
export function targetsTable(checks: readonly TargetCheck[]): string {
  const rows = checks.map((c) => [
    c.target,
    c.phase,
    shown(c.value, c.unit),
    `${c.unit === "ms" ? "≤ +" : "≤ "}${shown(c.limit, c.unit).replace(/^\+/, "")}`,
    c.met ? "met" : "MISSED",
  ]);
  const met = checks.filter((c) => c.met).length;
  return `${table(["target", "phase", "this run", "budget", ""], rows, ["left", "left", "right", "right", "left"])}\n${met} of ${checks.length} met`;
}
