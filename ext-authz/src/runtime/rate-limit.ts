/**
 * Quota counters. Memory when one replica runs; Redis when several share counters, with an
 * in-memory insurance limiter that keeps deciding when Redis fails (each replica then counts
 * alone until Redis is back: briefly more generous, never unlimited). On Redis, all counters of
 * a check are spent by one script in one round trip (./redis-counters.ts). A circuit breaker
 * (./redis-breaker.ts) stops asking a Redis that keeps failing or hanging.
 */
import type { RedisOptions } from "ioredis";
import { RateLimiterMemory } from "rate-limiter-flexible";
import {
  spendOneByOne,
  type QuotaCharge,
  type QuotaLimiter,
  type QuotaOutcome,
  type QuotaSpend,
} from "../policy/quota.ts";
import type { QuotaUsageSnapshot } from "../../../contract/src/admin-view.ts";
import { createQuotaUsageTracker, type QuotaUsageTracker } from "./quota-usage.ts";
import { createRedisBreaker, type RedisBreaker } from "./redis-breaker.ts";
import {
  createRedisCounters,
  windowSeconds,
  type CounterState,
  type RedisClientLike,
  type RedisCounters,
} from "./redis-counters.ts";

export { windowSeconds, type RedisClientLike };

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
  /** Most counters the usage table (GET /admin/limits) remembers; default 10000. */
  maxTrackedCounters?: number;
  now?: () => number;
};

export type RuntimeQuotaLimiter = QuotaLimiter & {
  /** Present when counting on Redis. */
  breaker: RedisBreaker | undefined;
  /**
   * The busiest live counters this replica has spent, at most `perKind` of each kind; on Redis
   * their counts are read again from Redis (every replica's spends), else this replica's memory.
   */
  usage(perKind: number): Promise<QuotaUsageSnapshot>;
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
    // Checks decided in the same event-loop turn share one socket write.
    enableAutoPipelining: true,
  };
}

/**
 * The counters never refuse by themselves: each charge's limit is compared with the count. So
 * one key has one counter per window length whatever limit applies to it (a user whose tokens
 * carry different roles, hence different limits, still spends a single per-user counter).
 */
const UNBOUNDED_POINTS = Number.MAX_SAFE_INTEGER;

/** The insurance counters (the only ones without Redis): one limiter per kind and window. */
function createMemoryCounters(
  keyPrefix: string,
  usage: QuotaUsageTracker,
): Pick<QuotaLimiter, "consume" | "refund"> {
  const limiters = new Map<string, RateLimiterMemory>();

  function limiterFor(charge: QuotaCharge): RateLimiterMemory {
    const duration = windowSeconds(charge.rule.durationMs);
    const id = `${charge.kind}:${duration}`;
    let found = limiters.get(id);
    if (found === undefined) {
      found = new RateLimiterMemory({
        points: UNBOUNDED_POINTS,
        duration,
        keyPrefix: `${keyPrefix}:${id}`,
      });
      limiters.set(id, found);
    }
    return found;
  }

  return {
    async consume(charge) {
      const counted = await limiterFor(charge).consume(charge.key, 1);
      const state = { consumed: counted.consumedPoints, msBeforeReset: counted.msBeforeNext };
      usage.record(charge, state);
      return outcomeOf(charge, state);
    },
    async refund(charge) {
      await limiterFor(charge).reward(charge.key, 1);
      usage.refunded(charge);
    },
  };
}

function outcomeOf(charge: QuotaCharge, counter: CounterState): QuotaOutcome {
  if (counter.consumed <= charge.rule.points) return { ok: true };
  return {
    ok: false,
    limit: charge.rule.points,
    remaining: 0,
    resetMs: counter.msBeforeReset,
    retryAfterMs: counter.msBeforeReset,
  };
}

/** The first counter over its limit, read from the script's counter states. */
function spendFromCounters(
  charges: readonly QuotaCharge[],
  counters: readonly CounterState[],
): QuotaSpend {
  for (const [index, counter] of counters.entries()) {
    const charge = charges[index]!;
    const outcome = outcomeOf(charge, counter);
    if (!outcome.ok) return { ok: false, charge, outcome };
  }
  return { ok: true };
}

export function createQuotaLimiter(options: QuotaLimiterOptions): RuntimeQuotaLimiter {
  const now = options.now ?? Date.now;
  const usage = createQuotaUsageTracker({
    ...(options.maxTrackedCounters === undefined ? {} : { maxEntries: options.maxTrackedCounters }),
    now,
  });
  const memory = createMemoryCounters(options.keyPrefix, usage);
  const redisClient = options.redis;
  const redis =
    redisClient === undefined ? undefined : createRedisCounters(redisClient, options.keyPrefix);
  const breaker =
    redisClient === undefined
      ? undefined
      : createRedisBreaker({
          ...(options.breaker ?? DEFAULT_BREAKER_SETTINGS),
          probe: () => redisClient.ping(),
        });

  function usableRedis(): RedisCounters | undefined {
    return breaker?.allowsRedis() === true ? redis : undefined;
  }

  async function spendAll(charges: readonly QuotaCharge[]): Promise<QuotaSpend> {
    const shared = usableRedis();
    if (shared === undefined) return spendOneByOne(memory, charges);
    let counters: CounterState[];
    try {
      counters = await shared.spend(charges);
      breaker?.recordSuccess();
    } catch (error) {
      // Whether Redis counted this check is unknown (a timeout says nothing): the insurance
      // counters decide all of it, so one check never mixes two sets of counters.
      breaker?.recordFailure(error);
      return spendOneByOne(memory, charges);
    }
    const spent = spendFromCounters(charges, counters);
    counters.forEach((counter, index) => {
      // On a refusal the script gave back what the counters before the refusing one took.
      const givenBack = !spent.ok && index < counters.length - 1;
      usage.record(
        charges[index]!,
        givenBack ? { ...counter, consumed: counter.consumed - 1 } : counter,
      );
    });
    return spent;
  }

  async function usageSnapshot(perKind: number): Promise<QuotaUsageSnapshot> {
    const shared = usableRedis();
    let store: QuotaUsageSnapshot["store"] = "memory";
    // Read twice as many candidates as shown: other replicas may have made a quieter one busier.
    if (shared !== undefined) {
      const candidates = usage.busiest(perKind * 2);
      try {
        const states = await shared.read(candidates);
        breaker?.recordSuccess();
        candidates.forEach((entry, index) => usage.update(entry, states[index]));
        store = "redis";
      } catch (error) {
        breaker?.recordFailure(error);
      }
    }
    const entries = usage.busiest(perKind);
    const at = now();
    return {
      taken_at: new Date(at).toISOString(),
      store,
      degraded: redis !== undefined && store === "memory",
      tracked: usage.size(),
      counters: entries.map((entry) => ({
        kind: entry.kind,
        key: entry.key,
        used: entry.consumed,
        limit: entry.limit,
        window_seconds: entry.windowSeconds,
        reset_in_ms: Math.max(0, entry.resetAt - at),
      })),
    };
  }

  async function refundOn(shared: RedisCounters, charge: QuotaCharge): Promise<void> {
    try {
      await shared.refund(charge);
      breaker?.recordSuccess();
    } catch (error) {
      breaker?.recordFailure(error);
      throw error;
    }
  }

  return {
    breaker,
    spendAll,
    usage: usageSnapshot,
    async consume(charge) {
      const spent = await spendAll([charge]);
      return spent.ok ? spent : spent.outcome;
    },
    async refund(charge) {
      try {
        const shared = usableRedis();
        await (shared === undefined ? memory.refund(charge) : refundOn(shared, charge));
      } catch (error) {
        options.onRefundError?.(error);
      }
    },
    close() {
      breaker?.close();
    },
  };
}
