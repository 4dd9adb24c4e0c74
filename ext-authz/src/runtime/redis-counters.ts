/**
 * Quota counters on Redis: every counter of one check in a single Lua script, so a check costs
 * one round trip and is atomic (no other check can slip in between two of its counters).
 *
 * Keys are `{prefix}:{kind}:{window seconds}:{key}` holding an integer with a TTL: the scheme
 * rate-limiter-flexible's RateLimiterRedis used, so replicas of the previous version share the
 * same counters during a rolling upgrade.
 */
import type { QuotaCharge } from "../policy/quota.ts";

/** The ioredis client the counters use: `ping` is the breaker's probe, `status` is ioredis'. */
export type RedisClientLike = {
  ping(): Promise<unknown>;
  defineCommand(name: string, definition: { lua: string; numberOfKeys?: number }): void;
  status?: string;
};

/** One counter after the script: its count and the milliseconds until its window resets. */
export type CounterState = { consumed: number; msBeforeReset: number };

export type RedisCounters = {
  /**
   * Counts `charges` in order and stops at the first one over its limit, giving back what the
   * charges before it took. Returns the state of every counter it counted (the last one is the
   * refusing one, if any). Rejects when Redis fails.
   */
  spend(charges: readonly QuotaCharge[]): Promise<CounterState[]>;
  /** Gives one point back to a counter that still exists (an expired one stays expired). */
  refund(charge: QuotaCharge): Promise<void>;
  /**
   * Reads counters without spending (the operators' view, GET /admin/limits): a missing or
   * expired counter reads as 0 points and 0 ms.
   */
  read(counters: readonly CounterRef[]): Promise<CounterState[]>;
};

/** A counter by its parts, as the usage table knows it (quota-usage.ts). */
export type CounterRef = { kind: QuotaCharge["kind"]; windowSeconds: number; key: string };

/** Windows stay whole seconds, as the insurance counters' (and the key) measure them. */
export function windowSeconds(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs / 1000));
}

/** The Redis key of a charge's counter (also the insurance counter's identity). */
export function counterKey(keyPrefix: string, charge: QuotaCharge): string {
  return `${keyPrefix}:${charge.kind}:${windowSeconds(charge.rule.durationMs)}:${charge.key}`;
}

/*
 * KEYS[i]: the counter of charge i; ARGV[2i-1]: its limit; ARGV[2i]: its window in ms.
 * The refusing counter keeps its point (as counting one charge at a time always did); only the
 * counters before it are given back, so a refused check never drains the counters that allowed
 * it. A counter without TTL (new, or left by anything else) gets one: no counter lives forever.
 */
const SPEND_SCRIPT = `
local counted = {}
for i, key in ipairs(KEYS) do
  local consumed = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[2 * i])
    redis.call('PEXPIRE', key, ttl)
  end
  counted[#counted + 1] = consumed
  counted[#counted + 1] = ttl
  if consumed > tonumber(ARGV[2 * i - 1]) then
    for j = 1, i - 1 do
      redis.call('DECR', KEYS[j])
    end
    return counted
  end
end
return counted
`;

/* An expired counter is not recreated at -1: that would grant an extra point next window. */
const REFUND_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('DECR', KEYS[1])
end
return false
`;

/* Read-only: GET and PTTL of each key, so the counts and resets come from one moment. */
const READ_SCRIPT = `
local read = {}
for _, key in ipairs(KEYS) do
  read[#read + 1] = tonumber(redis.call('GET', key)) or 0
  read[#read + 1] = redis.call('PTTL', key)
end
return read
`;

const SPEND_COMMAND = "mcpgwQuotaSpend";
const REFUND_COMMAND = "mcpgwQuotaRefund";
const READ_COMMAND = "mcpgwQuotaRead";

type ScriptCommand = (...args: (string | number)[]) => Promise<unknown>;

export function createRedisCounters(client: RedisClientLike, keyPrefix: string): RedisCounters {
  // ioredis sends EVALSHA, and EVAL once per connection that does not have the script yet.
  client.defineCommand(SPEND_COMMAND, { lua: SPEND_SCRIPT });
  client.defineCommand(REFUND_COMMAND, { lua: REFUND_SCRIPT, numberOfKeys: 1 });
  client.defineCommand(READ_COMMAND, { lua: READ_SCRIPT });
  const spendCommand = scriptCommand(client, SPEND_COMMAND);
  const refundCommand = scriptCommand(client, REFUND_COMMAND);
  const readCommand = scriptCommand(client, READ_COMMAND);

  function requireReady(): void {
    // An ioredis client with an offline queue would otherwise park the check until reconnected.
    if (client.status !== undefined && client.status !== "ready") {
      throw new Error("Redis connection is not ready");
    }
  }

  return {
    async spend(charges) {
      if (charges.length === 0) return [];
      requireReady();
      const keys = charges.map((charge) => counterKey(keyPrefix, charge));
      const limitsAndWindows = charges.flatMap((charge) => [
        charge.rule.points,
        windowSeconds(charge.rule.durationMs) * 1000,
      ]);
      const reply = await spendCommand(keys.length, ...keys, ...limitsAndWindows);
      return counterStates(reply, charges.length);
    },
    async refund(charge) {
      requireReady();
      await refundCommand(counterKey(keyPrefix, charge));
    },
    async read(counters) {
      if (counters.length === 0) return [];
      requireReady();
      const keys = counters.map(
        (counter) => `${keyPrefix}:${counter.kind}:${counter.windowSeconds}:${counter.key}`,
      );
      const reply = await readCommand(keys.length, ...keys);
      const states = counterStates(reply, counters.length);
      if (states.length !== counters.length)
        throw new Error("unexpected reply from the read script");
      // PTTL is -2 for a missing key and -1 for one without expiry: neither is a live window.
      return states.map((state) =>
        state.msBeforeReset > 0 ? state : { consumed: 0, msBeforeReset: 0 },
      );
    },
  };
}

function scriptCommand(client: RedisClientLike, name: string): ScriptCommand {
  const command: unknown = Reflect.get(client, name);
  if (typeof command !== "function") throw new Error(`Redis client did not define ${name}`);
  return (...args) => Reflect.apply(command, client, args) as Promise<unknown>;
}

/** The script's flat [consumed, ttl, consumed, ttl, …] reply; anything else is a fault. */
function counterStates(reply: unknown, chargeCount: number): CounterState[] {
  const valid =
    Array.isArray(reply) &&
    reply.length >= 2 &&
    reply.length <= 2 * chargeCount &&
    reply.length % 2 === 0 &&
    reply.every((value) => typeof value === "number");
  if (!valid) throw new Error("unexpected reply from the quota script");
  const states: CounterState[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    states.push({ consumed: reply[i] as number, msBeforeReset: reply[i + 1] as number });
  }
  return states;
}
