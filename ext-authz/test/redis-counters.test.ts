/**
 * The Redis quota script on real Redis (REDIS_URL): one round trip per check whatever the number
 * of counters, narrowest-first refusal, refused checks leave the other counters alone, exact
 * admission under concurrency, and the insurance limiter when Redis fails or the breaker is open.
 * Commands are counted by Redis itself (MONITOR), not by the client.
 */
import { once } from "node:events";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { decide, type Decision } from "../src/policy/decide.ts";
import {
  quotaCharges,
  spendQuota,
  type QuotaCharge,
  type QuotaKind,
  type QuotaSpend,
} from "../src/policy/quota.ts";
import { createQuotaLimiter, type RuntimeQuotaLimiter } from "../src/runtime/rate-limit.ts";
import type { BreakerState } from "../src/runtime/redis-breaker.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL && process.env.CI === "true") throw new Error("REDIS_URL must be set when CI=true");

const MINUTE = 60_000;

/** user+tool, user, tool: the three counters of one tools/call, narrowest first. */
function toolCallCharges(
  user: string,
  limits: { userTool: number; user: number; tool: number },
  tool = "calculator.exact_calculate",
): QuotaCharge[] {
  return [
    {
      kind: "user_tool",
      key: `${user}/${tool}`,
      rule: { points: limits.userTool, durationMs: MINUTE },
    },
    { kind: "user", key: user, rule: { points: limits.user, durationMs: MINUTE } },
    { kind: "tool", key: tool, rule: { points: limits.tool, durationMs: MINUTE } },
  ];
}

function refusedKind(spent: QuotaSpend): QuotaKind | "ok" {
  return spent.ok ? "ok" : spent.charge.kind;
}

/** Redis' own record of the commands one client sends, delimited by a marker command. */
async function watchCommands(redis: Redis) {
  const info = String(await redis.call("CLIENT", "INFO"));
  const address = /addr=(\S+)/.exec(info)?.[1];
  if (address === undefined) throw new Error(`no addr in CLIENT INFO: ${info}`);
  const monitor = await redis.monitor();
  const seen: string[][] = [];
  monitor.on("monitor", (_time: string, args: string[], source: string) => {
    if (source === address) seen.push(args);
  });
  return {
    /** The commands `run` sent, in the order Redis received them. */
    async during(run: () => Promise<unknown>): Promise<string[]> {
      const start = seen.length;
      await run();
      const marker = `marker-${randomUUID()}`;
      const markerSeen = new Promise<void>((resolve) => {
        const onCommand = (_time: string, args: string[]) => {
          if (args[1] !== marker) return;
          monitor.off("monitor", onCommand);
          resolve();
        };
        monitor.on("monitor", onCommand);
      });
      await redis.echo(marker);
      await markerSeen;
      return seen
        .slice(start)
        .filter((args) => args[1] !== marker)
        .map((args) => args[0]!.toUpperCase());
    },
    stop: () => monitor.disconnect(),
  };
}

function nextState(limiter: RuntimeQuotaLimiter, state: BreakerState): Promise<void> {
  return new Promise((resolve) => {
    const stop = limiter.breaker!.onTransition(({ to }) => {
      if (to !== state) return;
      stop();
      resolve();
    });
  });
}

describe.skipIf(!REDIS_URL)("quota script on Redis", () => {
  const clients: Redis[] = [];
  const prefixes: string[] = [];
  const limiters: RuntimeQuotaLimiter[] = [];

  async function client(): Promise<Redis> {
    const redis = new Redis(REDIS_URL!, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    });
    redis.on("error", () => undefined);
    clients.push(redis);
    await redis.connect();
    return redis;
  }

  function prefix(): string {
    const made = `test-ext-authz:${randomUUID()}`;
    prefixes.push(made);
    return made;
  }

  function limiterOn(redis: Redis, keyPrefix: string, failureThreshold = 3): RuntimeQuotaLimiter {
    const limiter = createQuotaLimiter({
      redis,
      keyPrefix,
      breaker: { failureThreshold, probeIntervalMs: 60_000, probeTimeoutMs: 1000 },
    });
    limiters.push(limiter);
    return limiter;
  }

  /** The Redis counters, read in the key scheme rate-limiter-flexible used before the script. */
  async function counts(redis: Redis, keyPrefix: string, charges: readonly QuotaCharge[]) {
    const keys = charges.map((charge) => `${keyPrefix}:${charge.kind}:60:${charge.key}`);
    return (await redis.mget(...keys)).map((value) => (value === null ? null : Number(value)));
  }

  afterAll(async () => {
    for (const limiter of limiters) limiter.close();
    const cleanup = await client();
    for (const keyPrefix of prefixes) {
      const keys = await cleanup.keys(`${keyPrefix}:*`);
      if (keys.length > 0) await cleanup.del(...keys);
    }
    for (const redis of clients) redis.disconnect();
  });

  it("spends every counter of a check in one round trip", async () => {
    const redis = await client();
    const watch = await watchCommands(redis);
    try {
      const limiter = limiterOn(redis, prefix());
      const charges = toolCallCharges("u", { userTool: 10, user: 10, tool: 10 });
      // The first check on a connection sends the script itself, the next ones its digest.
      expect(await watch.during(() => spendQuota(limiter, charges))).toEqual(["EVAL"]);
      expect(await watch.during(() => spendQuota(limiter, charges))).toEqual(["EVALSHA"]);
      // A batch of three calls: seven counters, still one command.
      const batch = quotaCharges({
        tenant: null,
        subject: "u",
        userRule: { points: 10, durationMs: MINUTE },
        toolCalls: ["a", "b", "c"].map((tool) => ({
          scope: "calculator",
          tool,
          toolRule: { points: 10, durationMs: MINUTE },
          userToolRule: { points: 10, durationMs: MINUTE },
        })),
      });
      expect(batch).toHaveLength(7);
      expect(await watch.during(() => spendQuota(limiter, batch))).toEqual(["EVALSHA"]);
      // A refused check too.
      const tight = toolCallCharges("v", { userTool: 10, user: 0, tool: 10 });
      expect(await watch.during(() => spendQuota(limiter, tight))).toEqual(["EVALSHA"]);
    } finally {
      watch.stop();
    }
  });

  it("reports the narrowest refusing counter and leaves the others as they were", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const limiter = limiterOn(redis, keyPrefix);
    const charges = toolCallCharges("u", { userTool: 10, user: 2, tool: 10 });
    expect(refusedKind(await spendQuota(limiter, charges))).toBe("ok");
    expect(refusedKind(await spendQuota(limiter, charges))).toBe("ok");
    const refused = await spendQuota(limiter, charges);
    expect(refused).toMatchObject({
      ok: false,
      charge: { kind: "user" },
      outcome: { ok: false, limit: 2, remaining: 0 },
    });
    // user+tool given back, tool never asked; the refusing counter keeps its point, as before.
    expect(await counts(redis, keyPrefix, charges)).toEqual([2, 3, 2]);

    // Refused by the widest counter: both narrower ones are given back.
    const byTool = toolCallCharges("w", { userTool: 10, user: 10, tool: 2 }, "calculator.other");
    expect(refusedKind(await spendQuota(limiter, byTool))).toBe("ok");
    expect(refusedKind(await spendQuota(limiter, byTool))).toBe("ok");
    expect(refusedKind(await spendQuota(limiter, byTool))).toBe("tool");
    expect(await counts(redis, keyPrefix, byTool)).toEqual([2, 2, 3]);
  });

  it("takes Retry-After from the refusing counter's window", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const limiter = limiterOn(redis, keyPrefix);
    const charges = toolCallCharges("u", { userTool: 10, user: 2, tool: 10 });
    // The user counter is full and resets in 30 s; the others are new (a whole minute).
    await redis.set(`${keyPrefix}:user:60:u`, "2", "PX", 30_000);
    const refused = await spendQuota(limiter, charges);
    if (refused.ok) throw new Error("expected a refusal");
    expect(refused.charge.kind).toBe("user");
    expect(refused.outcome.retryAfterMs).toBeGreaterThan(25_000);
    expect(refused.outcome.retryAfterMs).toBeLessThanOrEqual(30_000);
    expect(refused.outcome.resetMs).toBe(refused.outcome.retryAfterMs);
  });

  it("sets a new counter's window once, in whole seconds, in the previous key scheme", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const limiter = limiterOn(redis, keyPrefix);
    const odd: QuotaCharge = { kind: "user", key: "t/s", rule: { points: 1, durationMs: 30_001 } };
    expect(refusedKind(await spendQuota(limiter, [odd]))).toBe("ok");
    // 30.001 s rounds up to 31 s, as the insurance counters (rate-limiter-flexible) count it.
    const ttl = await redis.pttl(`${keyPrefix}:user:31:t/s`);
    expect(ttl).toBeGreaterThan(30_001);
    expect(ttl).toBeLessThanOrEqual(31_000);

    const minute = toolCallCharges("u", { userTool: 5, user: 5, tool: 5 });
    await spendQuota(limiter, minute);
    const key = `${keyPrefix}:user:60:u`;
    await redis.pexpire(key, 40_000);
    // Counting again does not restart the window.
    await spendQuota(limiter, minute);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(40_000);
    expect(await counts(redis, keyPrefix, minute)).toEqual([2, 2, 2]);
  });

  it("admits exactly the limit under 200 parallel checks from two replicas", async () => {
    const [a, b] = await Promise.all([client(), client()]);
    const keyPrefix = prefix();
    const replicas = [limiterOn(a, keyPrefix), limiterOn(b, keyPrefix)];
    const charges = toolCallCharges("u", { userTool: 1000, user: 50, tool: 1000 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => spendQuota(replicas[i % 2]!, charges)),
    );
    expect(results.filter((spent) => spent.ok)).toHaveLength(50);
    expect(new Set(results.map(refusedKind))).toEqual(new Set(["ok", "user"]));
    expect(await counts(a, keyPrefix, charges)).toEqual([50, 200, 50]);
  });

  it("never lets a check that will be refused hold a point another check needs", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const limiter = limiterOn(redis, keyPrefix);
    // Same user, limit 50: calls of a closed tool (limit 0) are refused at their tool counter
    // after passing the user counter, and interleave with calls of an open tool.
    const closed = toolCallCharges("u", { userTool: 1000, user: 50, tool: 0 }, "calculator.closed");
    const open = toolCallCharges("u", { userTool: 1000, user: 50, tool: 1000 });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        spendQuota(limiter, i % 2 === 0 ? closed : open).then(
          (spent) => `${i % 2 === 0 ? "closed" : "open"}:${refusedKind(spent)}`,
        ),
      ),
    );
    const tally = (label: string) => results.filter((result) => result === label).length;
    expect(tally("closed:ok")).toBe(0);
    // Spending one counter at a time with refunds admitted about half of these.
    expect(tally("open:ok")).toBe(50);
    expect(tally("open:user")).toBe(50);
  });

  it("decides the whole check in memory when the script fails, and counts the failure", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const limiter = limiterOn(redis, keyPrefix, 1);
    const charges = toolCallCharges("u", { userTool: 10, user: 1, tool: 10 });
    // A counter Redis cannot increment: the script errors before changing anything.
    await redis.set(`${keyPrefix}:user_tool:60:u/calculator.exact_calculate`, "not a number");
    const opened = nextState(limiter, "open");
    expect(refusedKind(await spendQuota(limiter, charges))).toBe("ok");
    await opened;
    expect(await counts(redis, keyPrefix, charges.slice(1))).toEqual([null, null]);
    // The insurance counters already hold that check: the next one is refused by the user limit.
    const watch = await watchCommands(redis);
    try {
      let refused: QuotaSpend = { ok: true };
      const sent = await watch.during(async () => {
        refused = await spendQuota(limiter, charges);
      });
      // Breaker open: not one command to Redis.
      expect(sent).toEqual([]);
      expect(refusedKind(refused)).toBe("user");
    } finally {
      watch.stop();
    }

    // Redis answers the probe: the breaker closes and the script counts again.
    await redis.del(`${keyPrefix}:user_tool:60:u/calculator.exact_calculate`);
    const closed = nextState(limiter, "closed");
    limiter.breaker!.probeNow();
    await closed;
    expect(refusedKind(await spendQuota(limiter, charges))).toBe("ok");
    expect(await counts(redis, keyPrefix, charges)).toEqual([1, 1, 1]);
  });

  it("keeps the insurance limiter's narrowest-first answer when Redis goes away", async () => {
    const redis = await client();
    const limiter = limiterOn(redis, prefix());
    const charges = toolCallCharges("u", { userTool: 10, user: 10, tool: 2 });
    expect(refusedKind(await spendQuota(limiter, charges))).toBe("ok");
    const ended = once(redis, "end");
    await redis.quit();
    await ended;
    const kinds = [];
    for (let i = 0; i < 4; i += 1) kinds.push(refusedKind(await spendQuota(limiter, charges)));
    // Memory counts from zero: two allowed, then the tool limit refuses.
    expect(kinds).toEqual(["ok", "ok", "tool", "tool"]);
    expect(limiter.breaker?.state()).toBe("open");
  });

  it("answers decide() with the refusing quota and its Retry-After", async () => {
    const redis = await client();
    const keyPrefix = prefix();
    const deps = decisionDeps({ limiter: limiterOn(redis, keyPrefix) });
    const token = await makeToken({ sub: "bo" });
    const call = (id: number) => ({
      jsonrpc: "2.0",
      id,
      method: "tools/call",
      params: { name: "generate_document", arguments: {} },
    });
    const run = (body: unknown): Promise<Decision> =>
      decide(
        {
          method: "POST",
          path: "/docs/mcp",
          headers: { authorization: `Bearer ${token}` },
          body: new TextEncoder().encode(JSON.stringify(body)),
          contextScope: undefined,
        },
        deps,
      );
    // docs.generate_document: two per minute for everyone; a batch of three is refused whole.
    const refused = await run([call(1), call(2), call(3)]);
    if (refused.outcome !== "deny") throw new Error(`expected a deny, got ${refused.outcome}`);
    expect(refused.reason).toBe("rate_limited_tool");
    expect(refused.rateLimit).toMatchObject({ kind: "tool", limit: 2, remaining: 0 });
    expect(refused.rateLimit!.retryAfterMs).toBeGreaterThan(MINUTE - 10_000);
    expect(refused.rateLimit!.retryAfterMs).toBeLessThanOrEqual(MINUTE);
    // Nothing of the refused batch stays spent on the user's own counters.
    expect(await redis.get(`${keyPrefix}:user:60:/bo`)).toBe("0");
    expect(await redis.get(`${keyPrefix}:user_tool:60:/bo/docs.generate_document`)).toBe("0");
    expect((await run(call(4))).outcome).toBe("allow");
  });
});
