import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PerfRecording, perfGroupOf, perfReport, perfUsable, summarizePerf } from "./perf-record.js";

/** `perf report -q -n --sort dso,sym --stdio` as perf 6 prints it, with the objects a proxy's main thread runs. */
const REPORT = [
  "     3.52%           40  libc.so.6            [.] __memmove_avx512_unaligned_erms",
  "     2.17%           20  node                 [.] Builtins_KeyedLoadIC_Megamorphic",
  "     1.78%           10  [kernel.kallsyms]    [k] _copy_to_iter",
  "     1.03%            8  [JIT] tid 12689      [.] JS:*scanObject file:///srv/sy/dist/src/pipeline/json-peek.js:168:20",
  "     0.91%            6  [JIT] tid 12690      [.] JS:^ file:///srv/sy/dist/src/edge/server.js:267:8",
  "     0.87%            5  [JIT] tid 12689      [.] JS:*_resume /srv/sy/node_modules/undici/lib/dispatcher/client.js:589:18",
  "     0.80%            4  [JIT] tid 12689      [.] JS:wasm-function[20]-20-turbofan",
  "     0.66%            3  [JIT] tid 12689      [.] JS:*Readable.read node:internal/streams/readable:647:35",
  "     0.61%            2  node                 [.] v8::internal::Scavenger::ScavengeObject",
  "     0.50%            1  node                 [.] v8::internal::JSObject::MigrateToMap",
  "     0.40%            1  better_sqlite3.node  [.] sqlite3VdbeExec",
  "",
].join("\n");

describe("what perf says of a proxy's main thread", () => {
  it("puts each symbol in the group of what it is, JavaScript by its script", () => {
    expect(perfGroupOf("libc.so.6", ".", "malloc")).toBe("libc (copies, malloc)");
    expect(perfGroupOf("[kernel.kallsyms]", "k", "tcp_sendmsg_locked")).toBe("kernel");
    expect(perfGroupOf("node", ".", "Builtins_LoadIC")).toBe("V8 builtins");
    expect(perfGroupOf("node", ".", "v8::internal::MarkCompactCollector::CollectGarbage")).toBe("GC");
    expect(perfGroupOf("node", ".", "v8::internal::LookupIterator::LookupInRegularHolder<false>")).toBe("V8 runtime");
    expect(perfGroupOf("node", ".", "llhttp__internal_execute")).toBe("node http");
    expect(perfGroupOf("node", ".", "uv__io_poll")).toBe("libuv");
    expect(perfGroupOf("node", ".", "node::Buffer::Copy")).toBe("node native");
    expect(perfGroupOf("[JIT]", ".", "JS:*take file:///srv/sy/dist/src/governance/counters-memory.js:74:15")).toBe("switchyard governance");
    expect(perfGroupOf("[JIT]", ".", "JS:~get /srv/sy/node_modules/lru-cache/dist/esm/index.js:1:17329")).toBe("lru-cache");
    expect(perfGroupOf("[JIT]", ".", "JS:*emit node:events:471:44")).toBe("node events");
    expect(perfGroupOf("better_sqlite3.node", ".", "sqlite3VdbeExec")).toBe("better-sqlite3");
    expect(perfGroupOf("[JIT]", ".", 'RegExp:"usage":\\{|\\[DONE\\]')).toBe("V8 regular expressions");
    expect(perfGroupOf("node", ".", "v8::internal::JsonParser<unsigned char>::ScanJsonString")).toBe("JSON.parse");
    expect(perfGroupOf("node", ".", "v8::internal::JsonStringifier::Serialize_<false>")).toBe("JSON.stringify");
  });

  it("turns samples into microseconds a request, by group and by symbol", () => {
    // 1,000 samples a second: a sample is 1,000 µs; over 10 requests, 100 µs a request.
    const s = summarizePerf(REPORT, 10, 1000);
    expect(s.requests).toBe(10);
    expect(s.busyUsPerReq).toBeCloseTo(100 * 100, 6);
    expect(s.groups).toEqual({
      "libc (copies, malloc)": 4000,
      "V8 builtins": 2000,
      kernel: 1000,
      "switchyard pipeline": 800,
      "switchyard edge": 600,
      undici: 900,
      "node streams": 300,
      GC: 200,
      "V8 runtime": 100,
      "better-sqlite3": 100,
    });
    expect(s.top[0]).toEqual({ name: "__memmove_avx512_unaligned_erms (libc.so.6)", usPerReq: 4000 });
    expect(s.top.map((t) => t.name)).toContain("scanObject src/pipeline/json-peek.js:168:20");
    expect(s.top.map((t) => t.name)).toContain("_resume undici/lib/dispatcher/client.js:589:18");
  });

  it("ignores what is not a sample line", () => {
    expect(summarizePerf("# header\n\nWarning: something\n", 5).busyUsPerReq).toBe(0);
  });

  // Needs perf, and the right to sample a process: root, or kernel.perf_event_paranoid <= 1.
  it.runIf(process.platform === "linux" && perfUsable())(
    "records a running process's JavaScript by name",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "perf-record-test-"));
      const script = join(dir, "spin.js");
      // A named function kept hot for longer than the recording; --perf-basic-prof lets perf name it.
      writeFileSync(
        script,
        "function spinForTheRecording(n) { let x = 0; for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003; return x; }\nconst end = Date.now() + 4000; let s = 0; while (Date.now() < end) s += spinForTheRecording(100000);\nconsole.log(s);\n",
      );
      // No inlining: the optimizing compiler could otherwise fold the function into the loop that calls it, and perf would name the loop.
      const child = spawn(process.execPath, ["--perf-basic-prof", "--logfile=/dev/null", "--no-turbo-inlining", script], { stdio: "ignore" });
      try {
        await new Promise((r) => setTimeout(r, 500));
        const recording = PerfRecording.start(child.pid!, join(dir, "spin.perf.data"));
        await new Promise((r) => setTimeout(r, 1500));
        await recording.stop();
        const s = summarizePerf(await perfReport(join(dir, "spin.perf.data")), 1);
        // About 1.5 s of one busy thread; allow for perf's start-up and a loaded machine.
        expect(s.busyUsPerReq).toBeGreaterThan(300_000);
        const spin = s.top.find((t) => t.name.startsWith("spinForTheRecording "));
        expect(spin?.usPerReq ?? 0).toBeGreaterThan(s.busyUsPerReq / 2);
      } finally {
        child.kill();
        // The map V8 wrote for perf, and the recording.
        rmSync(`/tmp/perf-${child.pid}.map`, { force: true });
        rmSync(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
