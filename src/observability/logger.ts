/**
 * pino JSON logs. Credentials never reach a log line: request headers are not
 * logged, and the redact list covers the places a secret could appear.
 */
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "switchyard" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["authorization", "*.authorization", "headers.authorization", "headers['x-api-key']", "*.secret", "*.key", "token"],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
