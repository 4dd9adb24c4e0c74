import { pino, type Logger, type LevelWithSilent } from "pino";

/**
 * Secrets never reach a log line: credentials, the gateway's own signed headers and anything named
 * like a token are censored wherever they appear in the first levels of a log object.
 */
const SECRET_HEADERS = [
  "authorization",
  "cookie",
  "set-cookie",
  "x-gateway-verdict",
  "x-gateway-auth",
  "x-issuer-token",
  "proxy-authorization",
];
const SECRET_FIELDS = ["token", "accessToken", "access_token", "password", "secret", "verdict"];

export const REDACT_PATHS = [
  ...SECRET_HEADERS.flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`, `*.headers["${h}"]`]),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]),
];

export function createLogger(options: {
  name: string;
  level?: LevelWithSilent;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      name: options.name,
      level: options.level ?? "info",
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

export type { Logger };
