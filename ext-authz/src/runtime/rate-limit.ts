/**
 * Quota counters (rate-limiter-flexible). Memory when one replica runs; Redis when several share
 * counters, with an in-memory insurance limiter that keeps deciding when Redis fails (each
 * replica then counts alone until Redis is back: briefly more generous, never unlimited).
 */
import type { RedisOptions } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { QuotaCharge, QuotaLimiter, QuotaOutcome } from "../policy/quota.ts";

export type RedisClientLike = object;

export type QuotaLimiterOptions = {
  /** An ioredis client created with `redisClientOptions`; absent → memory counters. */
  redis?: RedisClientLike;
  keyPrefix: string;
  /** Called when a refund could not be written (the point then expires with its window). */
  onRefundError?: (error: unknown) => void;
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

export function createQuotaLimiter(options: QuotaLimiterOptions): QuotaLimiter {
  const limiters = new Map<string, RateLimiterAbstract>();

  function limiterFor(charge: QuotaCharge): RateLimiterAbstract {
    const duration = windowSeconds(charge.rule.durationMs);
    const id = `${charge.kind}:${duration}`;
    let limiter = limiters.get(id);
    if (limiter === undefined) {
      const keyPrefix = `${options.keyPrefix}:${id}`;
      const memory = new RateLimiterMemory({ points: UNBOUNDED_POINTS, duration, keyPrefix });
      limiter =
        options.redis === undefined
          ? memory
          : new RateLimiterRedis({
              storeClient: options.redis,
              points: UNBOUNDED_POINTS,
              duration,
              keyPrefix,
              rejectIfRedisNotReady: true,
              insuranceLimiter: memory,
            });
      limiters.set(id, limiter);
    }
    return limiter;
  }

  return {
    async consume(charge: QuotaCharge): Promise<QuotaOutcome> {
      const counted = await limiterFor(charge).consume(charge.key, 1);
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
      try {
        await limiterFor(charge).reward(charge.key, 1);
      } catch (error) {
        options.onRefundError?.(error);
      }
    },
  };
}
