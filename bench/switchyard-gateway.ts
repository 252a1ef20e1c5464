/**
 * Child process: the built Switchyard gateway, started the way the CLI starts it
 * (tuneV8ForServing, loadConfig, startGateway) from the YAML file given as the first argument.
 */
import { tuneV8ForServing } from "../src/cli/v8-tuning.js";
import { loadConfig } from "../src/config/load.js";
import { startGateway } from "../src/main.js";
import { serveChild } from "./ipc.js";

const configPath = process.argv[2];
if (!configPath) throw new Error("usage: switchyard-gateway.js CONFIG.yaml");
tuneV8ForServing();
const { config, path } = await loadConfig(configPath);
const gw = await startGateway({ config, source: path ?? configPath });
serveChild(gw.url, {}, () => gw.close(1000));
