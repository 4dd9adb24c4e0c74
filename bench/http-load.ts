import type { IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { Pool } from "undici";

/**
 * HTTP load: closed-loop (fixed connections, as fast as they go) from autocannon, with latencies
 * kept at full precision (autocannon's own histogram rounds to whole milliseconds, too coarse for
 * an added latency of a millisecond or two); open-loop at a fixed rate paced here (runPacedLoad).
 */

export type LoadTarget = {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Headers made anew for every request (X-Gateway-Auth is single-use), over `headers`. */
  perRequestHeaders?: () => Record<string, string>;
};

export type LoadOptions = {
  connections: number;
  durationS: number;
  /** Requests per second over all connections, evenly paced; unset = as fast as the connections go. */
  rate?: number;
  /** Sees every answer's status and headers (costs the load generator a little per request). */
  onAnswer?: (status: number, headers: Readonly<Record<string, unknown>>) => void;
};

export type LoadResult = {
  /** Requests written, including those cut off unanswered when the run ended. */
  sent: number;
  /** Responses received, any status. */
  answered: number;
  ok: number;
  /** Status → count for everything that was not 2xx. */
  refused: Map<number, number>;
  /** Connection errors and timeouts. */
  errors: number;
  seconds: number;
  /** 2xx responses per second. */
  rps: number;
  /** Of 2xx responses, in ms. */
  p50: number;
  p99: number;
};

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  if (options.rate !== undefined) return runPacedLoad(target, { ...options, rate: options.rate });
  const latencies: number[] = [];
  const refused = new Map<number, number>();
  let answered = 0;
  const started = performance.now();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: target.url,
        method: "POST",
        headers: target.headers,
        body: target.body,
        connections: options.connections,
        duration: options.durationS,
        timeout: 30,
        ...(options.onAnswer === undefined && target.perRequestHeaders === undefined
          ? {}
          : {
              requests: [
                {
                  method: "POST" as const,
                  headers: target.headers,
                  body: target.body,
                  ...(target.perRequestHeaders === undefined
                    ? {}
                    : { setupRequest: withHeaders(target.perRequestHeaders) }),
                  ...(options.onAnswer === undefined
                    ? {}
                    : { onResponse: answerHook(options.onAnswer) }),
                },
              ],
            }),
      },
      (error: unknown, done) => (error ? reject(toError(error)) : resolve(done)),
    );
    instance.on("response", (_client, statusCode, _bytes, responseTime) => {
      answered += 1;
      if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
      else refused.set(statusCode, (refused.get(statusCode) ?? 0) + 1);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    sent: result.requests.sent,
    answered,
    ok: latencies.length,
    refused,
    errors: result.errors + result.timeouts,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

function withHeaders(make: () => Record<string, string>) {
  return (request: autocannon.Request): autocannon.Request => ({
    ...request,
    headers: { ...request.headers, ...make() },
  });
}

function answerHook(onAnswer: NonNullable<LoadOptions["onAnswer"]>) {
  return (
    status: number,
    _body: string,
    _context: object,
    headers: IncomingHttpHeaders | undefined,
  ) => {
    // Names arrive as the server wrote them.
    const lower: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(headers ?? {})) lower[name.toLowerCase()] = value;
    onAnswer(status, lower);
  };
}

/** Several targets at once (one autocannon each), e.g. one per router replica. */
export async function runLoads(
  targets: readonly LoadTarget[],
  options: LoadOptions,
): Promise<LoadResult[]> {
  return Promise.all(targets.map((target) => runLoad(target, options)));
}

/** `sorted` ascending; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** "ok" or the statuses and errors that were not 2xx, for a table cell. */
export function problems(result: LoadResult): string {
  const parts = [...result.refused].map(([status, count]) => `${count}×${status}`);
  if (result.errors > 0) parts.push(`${result.errors} errors`);
  return parts.length === 0 ? "ok" : parts.join(" ");
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * Open-loop load at a fixed rate: request i is due at start + i / rate seconds and leaves then,
 * whatever earlier answers do, on a free keep-alive connection (at most `connections`; when all
 * are busy it waits for one). Its latency counts from the instant it was due, so a slow answer
 * that holds the next requests back shows in their latency too (no coordinated omission).
 *
 * autocannon's rate options do not pace: each connection sends its share of a second back to back
 * at the start of that second, then waits for the next one, so "200 req/s over 10 connections" is
 * a burst of 10 concurrent streams a third of each second.
 */
export async function runPacedLoad(
  target: LoadTarget,
  options: {
    connections: number;
    durationS: number;
    rate: number;
    onAnswer?: (status: number, headers: Readonly<Record<string, unknown>>) => void;
  },
): Promise<LoadResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: options.connections, pipelining: 1 });
  const intervalMs = 1000 / options.rate;
  const total = Math.max(1, Math.round(options.rate * options.durationS));
  const latencies: number[] = [];
  const refused = new Map<number, number>();
  let answered = 0;
  let errors = 0;
  const pending = new Set<Promise<void>>();

  const send = (due: number) => {
    const request = pool
      .request({
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers: { ...target.headers, ...target.perRequestHeaders?.() },
        body: target.body,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      })
      .then(async (response) => {
        await response.body.text();
        const latency = performance.now() - due;
        answered += 1;
        if (response.statusCode >= 200 && response.statusCode < 300) latencies.push(latency);
        else refused.set(response.statusCode, (refused.get(response.statusCode) ?? 0) + 1);
        options.onAnswer?.(response.statusCode, response.headers);
      })
      .catch(() => {
        errors += 1;
      })
      .finally(() => pending.delete(request));
    pending.add(request);
  };

  const started = performance.now();
  try {
    for (let i = 0; i < total; i += 1) {
      const due = started + i * intervalMs;
      const wait = due - performance.now();
      if (wait >= 1) await sleep(wait);
      send(due);
    }
    await Promise.all(pending);
  } finally {
    await pool.close();
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    sent: total,
    answered,
    ok: latencies.length,
    refused,
    errors,
    seconds,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}
