/** Child process: the mock upstream LLM (src/mock) on an ephemeral loopback port. */
import { startMockUpstream } from "../src/mock/server.js";
import { serveChild } from "./ipc.js";

// Recording requests would grow memory and add work under load. Each workload sends one body
// again and again, and parsing the 77 KB Claude Code body was most of the mock's time on the
// driver's core: the parse is reused for a body byte for byte the same (src/mock/parsed-bodies.ts).
// An answer to a body asked again is reused too (src/mock/reused-answers.ts): the driver's core, not
// the proxy's, had set the bare proxy's pace at 50 connections (bench/README.md, the nineteenth stop).
const mock = await startMockUpstream({ port: 0, host: "127.0.0.1", maxRecorded: 0, reuseParsedBodies: 16, reuseAnswers: true });
serveChild(mock.url, {}, () => mock.close());
