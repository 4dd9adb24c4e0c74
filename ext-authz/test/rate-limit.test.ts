/**
 * Quota counters on memory and on real Redis (REDIS_URL). The shared Redis is never stopped:
 * a failure is simulated by disconnecting our own client, or by a client aimed at a closed port.
 */
import { once } from "node:events";
import net from "node:net";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { QuotaCharge } from "../src/policy/quota.ts";
import { createQuotaLimiter, windowSeconds } from "../src/runtime/rate-limit.ts";
import { decide } from "../src/policy/decide.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL) {
  if (process.env.CI === "true") throw new Error("REDIS_URL must be set when CI=true");
  console.warn("ext-authz rate-limit tests: REDIS_URL not set, Redis tests skipped");
}

const charge = (key: string, points = 3): QuotaCharge => ({
  kind: "user",
  key,
  rule: { points, durationMs: 60_000 },
});

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("memory quotas", () => {
  it("counts per key and reports when to retry", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `mem-${randomUUID()}` });
    for (let i = 0; i < 3; i += 1) expect(await limiter.consume(charge("a"))).toEqual({ ok: true });
    const denied = await limiter.consume(charge("a"));
    expect(denied).toMatchObject({ ok: false, limit: 3, remaining: 0 });
    if (denied.ok) return;
    expect(denied.retryAfterMs).toBeGreaterThan(0);
    expect(denied.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(await limiter.consume(charge("b"))).toEqual({ ok: true });
  });

  it("keeps counters of different rules apart", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `mem-${randomUUID()}` });
    expect(await limiter.consume(charge("a", 1))).toEqual({ ok: true });
    expect(await limiter.consume(charge("a", 1))).toMatchObject({ ok: false });
    expect(await limiter.consume(charge("a", 2))).toEqual({ ok: true });
  });

  it("rounds sub-second windows up to one second", () => {
    expect(windowSeconds(500)).toBe(1);
    expect(windowSeconds(60_000)).toBe(60);
    expect(windowSeconds(1500)).toBe(2);
  });
});

describe.skipIf(!REDIS_URL)("Redis quotas", () => {
  const clients: Redis[] = [];
  const client = (url = REDIS_URL!): Redis => {
    const redis = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    });
    redis.on("error", () => undefined);
    clients.push(redis);
    return redis;
  };
  const ready = async (redis: Redis): Promise<void> => {
    await redis.connect();
    expect(redis.status).toBe("ready");
  };
  afterAll(() => {
    for (const redis of clients) redis.disconnect();
  });

  it("shares counters between replicas", async () => {
    const prefix = `test-ext-authz:${randomUUID()}`;
    const [a, b] = [client(), client()];
    await Promise.all([ready(a), ready(b)]);
    const replicaA = createQuotaLimiter({ redis: a, keyPrefix: prefix });
    const replicaB = createQuotaLimiter({ redis: b, keyPrefix: prefix });
    expect(await replicaA.consume(charge("shared"))).toEqual({ ok: true });
    expect(await replicaB.consume(charge("shared"))).toEqual({ ok: true });
    expect(await replicaA.consume(charge("shared"))).toEqual({ ok: true });
    expect(await replicaB.consume(charge("shared"))).toMatchObject({
      ok: false,
      limit: 3,
      remaining: 0,
    });
    const keys = await a.keys(`${prefix}*`);
    expect(keys.length).toBe(1);
    await a.del(...keys);
  });

  it("keeps deciding on the insurance limiter when Redis goes away mid-test", async () => {
    const prefix = `test-ext-authz:${randomUUID()}`;
    const redis = client();
    await ready(redis);
    const limiter = createQuotaLimiter({ redis, keyPrefix: prefix });
    expect(await limiter.consume(charge("u", 5))).toEqual({ ok: true });
    expect(await redis.exists((await redis.keys(`${prefix}*`))[0]!)).toBe(1);

    const ended = once(redis, "end");
    await redis.quit(); // our own connection only: the shared Redis keeps running
    await ended;
    expect(redis.status).toBe("end");
    const outcomes = [];
    for (let i = 0; i < 6; i += 1) outcomes.push((await limiter.consume(charge("u", 5))).ok);
    // The insurance limiter counts from zero in memory: five more allowed, then limited.
    expect(outcomes).toEqual([true, true, true, true, true, false]);

    const cleanup = client();
    await ready(cleanup);
    const keys = await cleanup.keys(`${prefix}*`);
    if (keys.length > 0) await cleanup.del(...keys);
  });

  it("decides from the start when Redis was never reachable", async () => {
    const redis = client(`redis://127.0.0.1:${await closedPort()}`);
    await expect(redis.connect()).rejects.toBeTruthy();
    const deps = decisionDeps({
      limiter: createQuotaLimiter({ redis, keyPrefix: `dead-${randomUUID()}` }),
    });
    const token = await makeToken({ roles: ["limited"] });
    const reasons: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const decision = await decide(
        {
          method: "POST",
          path: "/calculator/mcp",
          headers: { authorization: `Bearer ${token}` },
          body: new TextEncoder().encode('{"jsonrpc":"2.0","id":1,"method":"ping"}'),
          contextScope: undefined,
        },
        deps,
      );
      reasons.push(decision.outcome === "deny" ? decision.reason : decision.outcome);
    }
    expect(reasons).toEqual(["allow", "allow", "allow", "rate_limited_user"]);
  });
});
