/**
 * Circuit breaker in front of the Redis quota counters. A Redis that hangs costs every counter
 * command its full timeout before the insurance limiter decides; after a few such failures in a
 * row the breaker opens and the insurance limiter decides alone, with no Redis round trip. While
 * open, a background probe (not a request) asks Redis again every `probeIntervalMs`; the breaker
 * closes when it answers. Requests never wait for the probe, so half-open adds no latency either.
 */

import type { Logger } from "../../../contract/src/log.ts";

export type BreakerState = "closed" | "open" | "half_open";

export const BREAKER_STATES: readonly BreakerState[] = ["closed", "open", "half_open"];

export type BreakerTransition = {
  from: BreakerState;
  to: BreakerState;
  /** What the last failure was (on opening) or why the probe failed; absent on closing. */
  cause?: string;
  consecutiveFailures: number;
};

export type RedisBreakerOptions = {
  /** Consecutive failed counter commands that open the breaker. */
  failureThreshold: number;
  /** While open: time between two probes. */
  probeIntervalMs: number;
  /** A probe slower than this counts as failed (ioredis' command timeout normally ends it first). */
  probeTimeoutMs: number;
  /** One cheap Redis round trip, e.g. PING. */
  probe: () => Promise<unknown>;
};

export type RedisBreaker = {
  state(): BreakerState;
  /** False while open or half-open: the caller then counts in memory only. */
  allowsRedis(): boolean;
  recordSuccess(): void;
  recordFailure(error: unknown): void;
  /** While open: probe at once (the client just (re)connected) instead of at the next interval. */
  probeNow(): void;
  /** Listeners run synchronously on every change; returns the unsubscribe function. */
  onTransition(listener: (transition: BreakerTransition) => void): () => void;
  /** Stops probing (shutdown). */
  close(): void;
};

/** A closed set, safe as a log field: never the error text of an arbitrary failure. */
export function failureCause(error: unknown): string {
  if (!(error instanceof Error)) return "error";
  if (/timed? ?out/i.test(error.message)) return "timeout";
  if (/not ready|writeable|closed|ECONNREFUSED|ECONNRESET|EPIPE|ENOTFOUND/i.test(error.message))
    return "unavailable";
  return "error";
}

export function createRedisBreaker(options: RedisBreakerOptions): RedisBreaker {
  let state: BreakerState = "closed";
  let consecutiveFailures = 0;
  let probeTimer: NodeJS.Timeout | undefined;
  let closed = false;
  const listeners = new Set<(transition: BreakerTransition) => void>();

  function moveTo(to: BreakerState, cause?: string): void {
    if (state === to) return;
    const transition: BreakerTransition = {
      from: state,
      to,
      consecutiveFailures,
      ...(cause === undefined ? {} : { cause }),
    };
    state = to;
    for (const listener of listeners) listener(transition);
  }

  function scheduleProbe(): void {
    if (closed || probeTimer !== undefined) return;
    probeTimer = setTimeout(() => {
      probeTimer = undefined;
      void runProbe();
    }, options.probeIntervalMs);
    // An open breaker must not keep a process alive that is otherwise done.
    probeTimer.unref();
  }

  async function runProbe(): Promise<void> {
    if (closed || state !== "open") return;
    moveTo("half_open");
    let timeout: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        options.probe(),
        new Promise((_resolve, reject) => {
          timeout = setTimeout(() => reject(new Error("probe timed out")), options.probeTimeoutMs);
          timeout.unref();
        }),
      ]);
      if (closed) return;
      consecutiveFailures = 0;
      moveTo("closed");
    } catch (error) {
      if (closed) return;
      moveTo("open", failureCause(error));
      scheduleProbe();
    } finally {
      clearTimeout(timeout);
    }
  }

  return {
    state: () => state,
    allowsRedis: () => state === "closed",
    recordSuccess() {
      // A late answer to a command sent before opening proves little: only the probe closes.
      if (state === "closed") consecutiveFailures = 0;
    },
    recordFailure(error) {
      if (state !== "closed") return;
      consecutiveFailures += 1;
      if (consecutiveFailures >= options.failureThreshold) {
        moveTo("open", failureCause(error));
        scheduleProbe();
      }
    },
    probeNow() {
      if (closed || state !== "open") return;
      clearTimeout(probeTimer);
      probeTimer = undefined;
      void runProbe();
    },
    onTransition(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(probeTimer);
      probeTimer = undefined;
    },
  };
}

/** For readiness: degraded while the insurance limiter decides alone. */
export function degradationOf(breaker: RedisBreaker | undefined): {
  degraded: boolean;
  redis?: BreakerState;
} {
  if (breaker === undefined) return { degraded: false };
  const redis = breaker.state();
  return { degraded: redis !== "closed", redis };
}

/**
 * One line per state change, never per request. While Redis stays down every failed probe flips
 * open → half_open → open: those go to debug, the outage's start and end to warn and info.
 */
export function logBreakerTransitions(breaker: RedisBreaker, logger: Logger): void {
  breaker.onTransition(({ from, to, cause, consecutiveFailures }) => {
    const fields = { redisBreaker: to, from, cause, consecutiveFailures };
    if (to === "open" && from === "closed") {
      logger.warn(
        fields,
        "redis circuit breaker open: the in-memory insurance limiter decides alone",
      );
    } else if (to === "closed") {
      logger.info(fields, "redis circuit breaker closed: quotas counted in Redis again");
    } else if (to === "half_open") {
      logger.debug(fields, "redis circuit breaker probing");
    } else {
      logger.debug(fields, "redis circuit breaker probe failed: stays open");
    }
  });
}
