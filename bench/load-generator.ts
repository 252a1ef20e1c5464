/** Child process: the load generator (bench/load.ts) behind the IPC channel. */
import { serveChild } from "./ipc.js";
import { LoadRunner } from "./load.js";

const runner = new LoadRunner();
serveChild("", { load: (spec) => runner.run(spec) }, () => runner.close());
