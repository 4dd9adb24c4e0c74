/**
 * Quota counters (rate-limiter-flexible). Memory when one replica runs; Redis when several share
 * counters, with an in-memory insurance limiter that keeps deciding when Redis fails (each
 * replica then counts alone until Redis is back: briefly more generous, never unlimited).
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { QuotaCharge, QuotaLimiter, QuotaOutcome } from "../policy/quota.ts";

export type RedisClientLike = object;

export type QuotaLimiterOptions = {
  /** An ioredis client created with `enableOfflineQueue: false`; absent → memory counters. */
  redis?: RedisClientLike;
  keyPrefix: string;
};

/** rate-limiter-flexible windows are whole seconds (Redis EX); shorter windows round up to 1 s. */
export function windowSeconds(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs / 1000));
}

export function createQuotaLimiter(options: QuotaLimiterOptions): QuotaLimiter {
  const limiters = new Map<string, RateLimiterAbstract>();

  function limiterFor(charge: QuotaCharge): RateLimiterAbstract {
    const duration = windowSeconds(charge.rule.durationMs);
    const id = `${charge.kind}:${charge.rule.points}:${duration}`;
    let limiter = limiters.get(id);
    if (limiter === undefined) {
      // The rule is part of the prefix so a changed quota starts fresh counters instead of
      // inheriting ones counted against another limit.
      const keyPrefix = `${options.keyPrefix}:${id}`;
      const memory = new RateLimiterMemory({ points: charge.rule.points, duration, keyPrefix });
      limiter =
        options.redis === undefined
          ? memory
          : new RateLimiterRedis({
              storeClient: options.redis,
              points: charge.rule.points,
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
      try {
        await limiterFor(charge).consume(charge.key, 1);
        return { ok: true };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) {
          return {
            ok: false,
            limit: charge.rule.points,
            remaining: Math.max(0, rejection.remainingPoints),
            resetMs: rejection.msBeforeNext,
            retryAfterMs: rejection.msBeforeNext,
          };
        }
        throw rejection;
      }
    },
  };
}
