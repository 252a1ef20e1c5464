/**
 * Standalone mock upstream:
 *   node dist/src/mock/main.js [--port 9100] [--host 127.0.0.1]
 * or MOCK_PORT / MOCK_HOST in the environment. Prints its URL on stdout.
 */
import { startMockUpstream } from "./server.js";

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i !== -1) return argv[i + 1];
  const inline = argv.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

const portText = arg("port") ?? process.env.MOCK_PORT ?? "9100";
const port = Number(portText);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  process.stderr.write(`invalid port: ${portText}\n`);
  process.exit(2);
}
const host = arg("host") ?? process.env.MOCK_HOST ?? "127.0.0.1";

// Nobody reads recorded requests in a standalone run; keeping them would grow memory under load.
const mock = await startMockUpstream({ port, host, maxRecorded: 0 });
process.stdout.write(`mock upstream listening on ${mock.url}\n`);

const stop = (): void => {
  mock.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
