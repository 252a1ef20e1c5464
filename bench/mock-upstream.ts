/** Child process: the mock upstream LLM (src/mock) on an ephemeral loopback port. */
import { startMockUpstream } from "../src/mock/server.js";
import { serveChild } from "./ipc.js";

// Recording requests would grow memory and add work under load.
const mock = await startMockUpstream({ port: 0, host: "127.0.0.1", maxRecorded: 0 });
serveChild(mock.url, {}, () => mock.close());
