import { once } from "node:events";
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback reverse proxy that adds `Authorization: Bearer <token>` and forwards everything else
 * as it came: the conformance suite cannot send a token of its own. Without a token it forwards
 * everything as it came (the harness's recording hop between the gateway and the fixture). Bodies are piped both ways, so
 * an SSE response reaches the suite event by event, and a client that hangs up closes the upstream
 * request too (an abandoned GET stream must not outlive the scenario that opened it).
 *
 * Optionally every exchange is recorded (headers, start of each body) for diagnosis.
 */

export type ExchangeRecord = {
  label: string;
  startedAt: string;
  durationMs: number;
  request: { method: string; path: string; headers: IncomingHttpHeaders; body: string };
  response: {
    status: number | null;
    headers: IncomingHttpHeaders;
    body: string;
    /** false when the client hung up (or the upstream failed) before the body ended. */
    complete: boolean;
  };
};

export type AuthProxyOptions = {
  /** Where to forward, e.g. http://127.0.0.1:PORT (no path: paths pass through unchanged). */
  upstream: string;
  /** Sent as `Authorization: Bearer <token>`, replacing the client's; undefined: passed as sent. */
  token: string | undefined;
  label: string;
  onExchange?: (record: ExchangeRecord) => void;
  /** Bytes of each body kept in a record (the forwarded body is never cut). */
  recordBodyBytes?: number;
};

export type AuthProxy = { url: string; close(): Promise<void> };

// RFC 9110 §7.6.1: connection-specific fields are for one hop only; Node frames each side itself.
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

function endToEnd(rawHeaders: readonly string[]): [string, string][] {
  const named = new Set(HOP_BY_HOP);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === "connection") {
      for (const token of rawHeaders[i + 1]!.split(",")) named.add(token.trim().toLowerCase());
    }
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (!named.has(name.toLowerCase())) pairs.push([name, rawHeaders[i + 1]!]);
  }
  return pairs;
}

function toHeaders(pairs: readonly [string, string][]): OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of pairs) {
    const existing = headers[name];
    headers[name] =
      existing === undefined
        ? value
        : Array.isArray(existing)
          ? [...existing, value]
          : [existing, value];
  }
  return headers;
}

function redacted(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return "authorization" in headers ? { ...headers, authorization: "Bearer [redacted]" } : headers;
}

/** Collects the first `limit` bytes of a stream without taking it out of flowing mode for others. */
function tap(stream: IncomingMessage, limit: number): () => string {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  stream.on("data", (chunk: Buffer) => {
    total += chunk.length;
    if (kept < limit) {
      const part = chunk.subarray(0, limit - kept);
      chunks.push(part);
      kept += part.length;
    }
  });
  return () => {
    const text = Buffer.concat(chunks).toString("utf8");
    return total > kept ? `${text}…[${total - kept} more bytes]` : text;
  };
}

export async function startAuthProxy(options: AuthProxyOptions): Promise<AuthProxy> {
  const target = new URL(options.upstream);
  const recordBytes = options.recordBodyBytes ?? 65_536;

  const server = createServer((req, res) => {
    const started = Date.now();
    const passed = endToEnd(req.rawHeaders);
    const headers: [string, string][] =
      options.token === undefined
        ? passed
        : [
            ...passed.filter(([name]) => name.toLowerCase() !== "authorization"),
            ["Authorization", `Bearer ${options.token}`],
          ];
    const requestBody = options.onExchange ? tap(req, recordBytes) : () => "";
    let responseBody = (): string => "";
    let upstreamResponse: IncomingMessage | undefined;
    let recorded = false;
    const record = (complete: boolean): void => {
      if (recorded || !options.onExchange) return;
      recorded = true;
      options.onExchange({
        label: options.label,
        startedAt: new Date(started).toISOString(),
        durationMs: Date.now() - started,
        request: {
          method: req.method ?? "",
          path: req.url ?? "",
          headers: redacted(req.headers),
          body: requestBody(),
        },
        response: {
          status: upstreamResponse?.statusCode ?? null,
          headers: upstreamResponse?.headers ?? {},
          body: responseBody(),
          complete,
        },
      });
    };

    const upstream = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: toHeaders(headers),
      },
      (response) => {
        upstreamResponse = response;
        if (options.onExchange) responseBody = tap(response, recordBytes);
        res.writeHead(
          response.statusCode ?? 502,
          response.statusMessage,
          toHeaders(endToEnd(response.rawHeaders)),
        );
        // Headers go out now, not with the first body chunk: an SSE stream may stay quiet a while.
        res.flushHeaders();
        response.pipe(res);
        response.on("end", () => record(true));
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) {
        res
          .writeHead(502, { "content-type": "text/plain" })
          .end("conformance proxy: upstream failed");
      } else {
        res.destroy();
      }
      record(false);
    });
    res.on("close", () => {
      if (!res.writableFinished) {
        upstream.destroy();
        upstreamResponse?.destroy();
      }
      record(res.writableFinished);
    });
    req.pipe(upstream);
  });

  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
