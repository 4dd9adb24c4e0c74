/**
 * Quota counters (rate-limiter-flexible). Memory when one replica runs; Redis when several share
 * counters, with an in-memory insurance limiter that keeps deciding when Redis fails (each
 * replica then counts alone until Redis is back: briefly more generous, never unlimited). A
 * circuit breaker (./redis-breaker.ts) stops asking a Redis that keeps failing or hanging.
 */
import type { RedisOptions } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import type { RateLimiterRes } from "rate-limiter-flexible";
import type { QuotaCharge, QuotaLimiter, QuotaOutcome } from "../policy/quota.ts";
import { createRedisBreaker, type RedisBreaker } from "./redis-breaker.ts";

/** The ioredis client the counters use; `ping` is the breaker's probe. */
export type RedisClientLike = { ping(): Promise<unknown> };

export type RedisBreakerSettings = {
  /** Consecutive failed counter commands that open the breaker. */
  failureThreshold: number;
  /** While open, how often Redis is probed. */
  probeIntervalMs: number;
  /** A probe slower than this fails (set it to the command timeout). */
  probeTimeoutMs: number;
};

export const DEFAULT_BREAKER_SETTINGS: RedisBreakerSettings = {
  failureThreshold: 3,
  probeIntervalMs: 2000,
  probeTimeoutMs: 100,
};

export type QuotaLimiterOptions = {
  /** An ioredis client created with `redisClientOptions`; absent → memory counters. */
  redis?: RedisClientLike;
  keyPrefix: string;
  /** Circuit breaker in front of Redis (default DEFAULT_BREAKER_SETTINGS). */
  breaker?: RedisBreakerSettings;
  /** Called when a refund could not be written (the point then expires with its window). */
  onRefundError?: (error: unknown) => void;
};

export type RuntimeQuotaLimiter = QuotaLimiter & {
  /** Present when counting on Redis. */
  breaker: RedisBreaker | undefined;
  close(): void;
};

/**
 * ioredis settings for the counter client. No offline queue: while Redis is down a command fails
 * at once. A command timeout: a Redis that accepts connections but stops answering fails within
 * `commandTimeoutMs` too. Either way the insurance limiter decides, well inside Envoy's timeout.
 */
export function redisClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
  };
}

/** rate-limiter-flexible windows are whole seconds (Redis EX); shorter windows round up to 1 s. */
export function windowSeconds(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs / 1000));
}

/**
 * The counters never refuse by themselves: the limit is compared here, per charge. So one key
 * has one counter per window length whatever limit applies to it (a user whose tokens carry
 * different roles, hence different limits, still spends a single per-user counter).
 */
const UNBOUNDED_POINTS = Number.MAX_SAFE_INTEGER;

type Counters = { memory: RateLimiterMemory; redis: RateLimiterRedis | undefined };

export function createQuotaLimiter(options: QuotaLimiterOptions): RuntimeQuotaLimiter {
  const counters = new Map<string, Counters>();
  const redisClient = options.redis;
  const breaker =
    redisClient === undefined
      ? undefined
      : createRedisBreaker({
          ...(options.breaker ?? DEFAULT_BREAKER_SETTINGS),
          probe: () => redisClient.ping(),
        });

  function countersFor(charge: QuotaCharge): Counters {
    const duration = windowSeconds(charge.rule.durationMs);
    const id = `${charge.kind}:${duration}`;
    let found = counters.get(id);
    if (found === undefined) {
      const keyPrefix = `${options.keyPrefix}:${id}`;
      // The insurance counters decide whenever Redis does not (failed command, breaker open).
      const memory = new RateLimiterMemory({ points: UNBOUNDED_POINTS, duration, keyPrefix });
      const redis =
        redisClient === undefined
          ? undefined
          : new RateLimiterRedis({
              storeClient: redisClient,
              points: UNBOUNDED_POINTS,
              duration,
              keyPrefix,
              rejectIfRedisNotReady: true,
            });
      found = { memory, redis };
      counters.set(id, found);
    }
    return found;
  }

  async function count(charge: QuotaCharge): Promise<RateLimiterRes> {
    const { memory, redis } = countersFor(charge);
    if (redis === undefined || breaker === undefined || !breaker.allowsRedis()) {
      return memory.consume(charge.key, 1);
    }
    try {
      const counted = await redis.consume(charge.key, 1);
      breaker.recordSuccess();
      return counted;
    } catch (error) {
      // With unbounded points the store never refuses: any rejection is a Redis failure.
      breaker.recordFailure(error);
      return memory.consume(charge.key, 1);
    }
  }

  return {
    breaker,
    async consume(charge: QuotaCharge): Promise<QuotaOutcome> {
      const counted = await count(charge);
      if (counted.consumedPoints <= charge.rule.points) return { ok: true };
      return {
        ok: false,
        limit: charge.rule.points,
        remaining: 0,
        resetMs: counted.msBeforeNext,
        retryAfterMs: counted.msBeforeNext,
      };
    },
    async refund(charge: QuotaCharge): Promise<void> {
      const { memory, redis } = countersFor(charge);
      try {
        if (redis === undefined || breaker === undefined || !breaker.allowsRedis()) {
          await memory.reward(charge.key, 1);
          return;
        }
        try {
          await redis.reward(charge.key, 1);
          breaker.recordSuccess();
        } catch (error) {
          breaker.recordFailure(error);
          throw error;
        }
      } catch (error) {
        options.onRefundError?.(error);
      }
    },
    close() {
      breaker?.close();
    },
  };
}
