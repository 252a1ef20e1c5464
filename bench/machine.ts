/**
 * Whole-machine CPU time from /proc/stat (Linux only), so a run can show how
 * much CPU processes outside the benchmark took while it measured: on a shared
 * machine that is the first thing to check when numbers look odd.
 */
import { readFileSync } from "node:fs";

/** /proc/stat counts in USER_HZ, which Linux fixes at 100 for userspace. */
const US_PER_TICK = 10_000;

/** Busy CPU time of all cores together (µs), or undefined where /proc/stat is missing. */
export function machineBusyUs(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/stat", "utf8");
  } catch {
    return undefined;
  }
  const line = text.split("\n", 1)[0] ?? "";
  // cpu user nice system idle iowait irq softirq steal …; guest time is already inside user.
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + irq + softirq) * US_PER_TICK;
}
