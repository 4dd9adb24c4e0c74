/**
 * The Redis circuit breaker on its own: a probe function stands in for Redis, and every wait is
 * on a state change the breaker reports.
 */
import { describe, expect, it } from "vitest";
import {
  createRedisBreaker,
  failureCause,
  type BreakerState,
  type BreakerTransition,
  type RedisBreaker,
} from "../src/runtime/redis-breaker.ts";

const timeout = new Error("Command timed out");

function recorder(breaker: RedisBreaker) {
  const seen: BreakerTransition[] = [];
  breaker.onTransition((transition) => seen.push(transition));
  return {
    seen,
    /** Resolves on the next transition into `state`. */
    reaches: (state: BreakerState): Promise<BreakerTransition> =>
      new Promise((resolve) => {
        const stop = breaker.onTransition((transition) => {
          if (transition.to !== state) return;
          stop();
          resolve(transition);
        });
      }),
  };
}

describe("Redis circuit breaker", () => {
  it("opens only after the threshold of consecutive failures", () => {
    const breaker = createRedisBreaker({
      failureThreshold: 3,
      probeIntervalMs: 60_000,
      probeTimeoutMs: 100,
      probe: async () => "PONG",
    });
    const { seen } = recorder(breaker);
    breaker.recordFailure(timeout);
    breaker.recordFailure(timeout);
    breaker.recordSuccess();
    breaker.recordFailure(timeout);
    breaker.recordFailure(timeout);
    expect(breaker.state()).toBe("closed");
    expect(breaker.allowsRedis()).toBe(true);
    breaker.recordFailure(timeout);
    expect(breaker.state()).toBe("open");
    expect(breaker.allowsRedis()).toBe(false);
    // Failures and late successes while open change nothing (and are not reported again).
    breaker.recordFailure(timeout);
    breaker.recordSuccess();
    expect(seen).toEqual([
      { from: "closed", to: "open", cause: "timeout", consecutiveFailures: 3 },
    ]);
    breaker.close();
  });

  it("probes periodically while open, stays open while the probe fails, closes when it answers", async () => {
    let answer = false;
    let probes = 0;
    const breaker = createRedisBreaker({
      failureThreshold: 1,
      probeIntervalMs: 10,
      probeTimeoutMs: 1_000,
      probe: async () => {
        probes += 1;
        if (!answer)
          throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
        return "PONG";
      },
    });
    const { seen, reaches } = recorder(breaker);
    const reopened = new Promise<void>((resolve) => {
      breaker.onTransition((transition) => {
        if (transition.from === "half_open" && transition.to === "open") resolve();
      });
    });
    breaker.recordFailure(timeout);
    await reopened;
    expect(breaker.allowsRedis()).toBe(false);
    const closed = reaches("closed");
    answer = true;
    await closed;
    expect(breaker.state()).toBe("closed");
    expect(breaker.allowsRedis()).toBe(true);
    expect(probes).toBeGreaterThanOrEqual(2);
    expect(seen.slice(0, 3)).toEqual([
      { from: "closed", to: "open", cause: "timeout", consecutiveFailures: 1 },
      { from: "open", to: "half_open", consecutiveFailures: 1 },
      { from: "half_open", to: "open", cause: "unavailable", consecutiveFailures: 1 },
    ]);
    expect(seen.at(-1)).toEqual({ from: "half_open", to: "closed", consecutiveFailures: 0 });
    breaker.close();
  });

  it("ends a probe that hangs at its own timeout", async () => {
    const breaker = createRedisBreaker({
      failureThreshold: 1,
      probeIntervalMs: 10,
      probeTimeoutMs: 20,
      probe: () => new Promise(() => undefined),
    });
    const reopened = new Promise<BreakerTransition>((resolve) => {
      breaker.onTransition((transition) => {
        if (transition.from === "half_open") resolve(transition);
      });
    });
    breaker.recordFailure(timeout);
    expect(await reopened).toMatchObject({ to: "open", cause: "timeout" });
    breaker.close();
  });

  it("probes at once when asked (the client reconnected)", async () => {
    const breaker = createRedisBreaker({
      failureThreshold: 1,
      probeIntervalMs: 3_600_000,
      probeTimeoutMs: 100,
      probe: async () => "PONG",
    });
    const { reaches } = recorder(breaker);
    breaker.recordFailure(timeout);
    expect(breaker.state()).toBe("open");
    const closed = reaches("closed");
    breaker.probeNow();
    await closed;
    expect(breaker.state()).toBe("closed");
    // Closed already: nothing to probe.
    breaker.probeNow();
    expect(breaker.state()).toBe("closed");
    breaker.close();
  });

  it("stops probing once closed for shutdown", async () => {
    let probes = 0;
    const breaker = createRedisBreaker({
      failureThreshold: 1,
      probeIntervalMs: 3_600_000,
      probeTimeoutMs: 100,
      probe: async () => {
        probes += 1;
      },
    });
    breaker.recordFailure(timeout);
    breaker.close();
    breaker.probeNow();
    expect(probes).toBe(0);
    expect(breaker.state()).toBe("open");
  });

  it("names causes from a closed set", () => {
    expect(failureCause(new Error("Command timed out"))).toBe("timeout");
    expect(failureCause(new Error("probe timed out"))).toBe("timeout");
    expect(failureCause(new Error("Redis connection is not ready"))).toBe("unavailable");
    expect(failureCause(new Error("Connection is closed."))).toBe("unavailable");
    expect(failureCause(new Error("connect ECONNREFUSED 127.0.0.1:6379"))).toBe("unavailable");
    expect(failureCause(new Error("ERR unknown command"))).toBe("error");
    expect(failureCause("not an error")).toBe("error");
  });
});
