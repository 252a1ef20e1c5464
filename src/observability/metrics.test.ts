import { describe, expect, it } from "vitest";
import { createMetrics } from "./metrics.js";

describe("metric names", () => {
  it("carry the switchyard_ prefix once, the process and Node metrics included", async () => {
    const text = await createMetrics().registry.metrics();
    const names = new Set(text.split("\n").flatMap((l) => (l.startsWith("# TYPE ") ? [l.split(" ")[2]!] : [])));
    expect(names.has("switchyard_process_cpu_user_seconds_total")).toBe(true);
    expect(names.has("switchyard_nodejs_eventloop_lag_seconds")).toBe(true);
    expect(names.has("switchyard_requests_total")).toBe(true);
    for (const n of names) {
      expect(n).toMatch(/^switchyard_/);
      expect(n).not.toMatch(/^switchyard_process_(process|nodejs)_/);
    }
  });
});
