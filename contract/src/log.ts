import { pino, type Logger, type LevelWithSilent } from "pino";

/**
 * Secrets never reach a log line: credentials, the gateway's own signed headers and anything named
 * like a token are censored at the top level of a log object or of a child logger's bindings, and
 * one level down (`err.token`, `request.headers.authorization`).
 *
 * Names are compared case-insensitively. This is a fixed two-level walk instead of pino's
 * path-based `redact`: the wildcard paths cost about 16 µs per line, which at four lines per
 * gateway call was a visible share of its CPU (docs/performance.md).
 */
const SECRET_HEADERS = new Set([
  "authorization",
  "cookie",
  "set-cookie",
  "x-gateway-verdict",
  "x-gateway-auth",
  "x-issuer-token",
  "proxy-authorization",
]);
const SECRET_FIELDS = new Set(
  ["token", "accessToken", "access_token", "password", "secret", "verdict"].map((name) =>
    name.toLowerCase(),
  ),
);
const CENSOR = "[redacted]";
/** Lines waiting for a slow log reader are dropped past this, instead of growing without bound. */
const MAX_PENDING_LOG_BYTES = 16 * 1024 * 1024;

type Fields = Record<string, unknown>;

function isContainer(value: unknown): value is object {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A shallow copy to censor; an Error stays one (same class, message, stack and cause). */
function copyOf(value: object): Fields {
  if (value instanceof Error) {
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Fields;
    const { message, stack, cause } = value;
    return Object.assign(
      copy,
      { message, stack, ...(cause === undefined ? {} : { cause }) },
      value,
    );
  }
  return { ...value };
}

function censorHeaders(headers: object): object {
  let copy: Fields | undefined;
  for (const name of Object.keys(headers)) {
    if (SECRET_HEADERS.has(name.toLowerCase())) {
      copy ??= copyOf(headers);
      copy[name] = CENSOR;
    }
  }
  return copy ?? headers;
}

function censorLevel(fields: object, nested: boolean): object {
  let copy: Fields | undefined;
  for (const [key, value] of Object.entries(fields) as [string, unknown][]) {
    let censored = value;
    if (SECRET_FIELDS.has(key.toLowerCase())) censored = CENSOR;
    else if (key === "headers" && isContainer(value)) censored = censorHeaders(value);
    else if (!nested && isContainer(value)) censored = censorLevel(value, true);
    if (censored !== value) {
      copy ??= copyOf(fields);
      copy[key] = censored;
    }
  }
  return copy ?? fields;
}

/** The same object when it carries no secret, else a censored copy (the caller's is untouched). */
export function censorSecrets<T extends object>(fields: T): T {
  return censorLevel(fields, false) as T;
}

/**
 * Lines go to stdout asynchronously: lines of one busy moment leave in one write instead of one
 * blocking write each, and a slow reader (a full pipe to the log collector) no longer stalls
 * request handling. pino flushes what is pending when the process exits.
 */
export function createLogger(options: {
  name: string;
  level?: LevelWithSilent;
  destination?: pino.DestinationStream;
}): Logger {
  const logger = pino(
    {
      level: options.level ?? "info",
      formatters: { log: (fields) => censorSecrets(fields) },
      base: { service: options.name },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ??
      pino.destination({ dest: 1, sync: false, maxLength: MAX_PENDING_LOG_BYTES }),
  );
  // pino applies no formatter to a child's bindings; every child (and its children, which inherit
  // this method) gets them censored here.
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the child's `this` below
  const createChild = logger.child;
  logger.child = function childWithoutSecrets(this: Logger, bindings, childOptions) {
    return createChild.call(this, censorSecrets(bindings), childOptions);
  } as Logger["child"];
  return logger;
}

export type { Logger };
