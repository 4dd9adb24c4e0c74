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
import {
  createQuotaLimiter,
  redisClientOptions,
  windowSeconds,
} from "../src/runtime/rate-limit.ts";
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

  it("keeps one counter per key whatever limit applies to it", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `mem-${randomUUID()}` });
    for (let i = 0; i < 3; i += 1)
      expect(await limiter.consume(charge("a", 3))).toEqual({ ok: true });
    expect(await limiter.consume(charge("a", 3))).toMatchObject({ ok: false, limit: 3 });
    // A higher limit (another role set) compares against the same count: 5th point of 5.
    expect(await limiter.consume(charge("a", 5))).toEqual({ ok: true });
    expect(await limiter.consume(charge("a", 5))).toMatchObject({ ok: false, limit: 5 });
    expect(await limiter.consume(charge("a", 3))).toMatchObject({ ok: false, limit: 3 });
  });

  it("keeps kinds and window lengths apart", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `mem-${randomUUID()}` });
    expect(await limiter.consume(charge("a", 1))).toEqual({ ok: true });
    expect(await limiter.consume(charge("a", 1))).toMatchObject({ ok: false });
    expect(await limiter.consume({ ...charge("a", 1), kind: "tool" })).toEqual({ ok: true });
    expect(
      await limiter.consume({ ...charge("a", 1), rule: { points: 1, durationMs: 3_600_000 } }),
    ).toEqual({ ok: true });
  });

  it("gives a refunded point back", async () => {
    const limiter = createQuotaLimiter({ keyPrefix: `mem-${randomUUID()}` });
    for (let i = 0; i < 3; i += 1) expect(await limiter.consume(charge("a"))).toEqual({ ok: true });
    await limiter.refund(charge("a"));
    expect(await limiter.consume(charge("a"))).toEqual({ ok: true });
    expect(await limiter.consume(charge("a"))).toMatchObject({ ok: false });
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

  it("refunds on Redis too", async () => {
    const prefix = `test-ext-authz:${randomUUID()}`;
    const redis = client();
    await ready(redis);
    const limiter = createQuotaLimiter({ redis, keyPrefix: prefix });
    for (let i = 0; i < 3; i += 1) expect(await limiter.consume(charge("r"))).toEqual({ ok: true });
    await limiter.refund(charge("r"));
    expect(await limiter.consume(charge("r"))).toEqual({ ok: true });
    expect(await limiter.consume(charge("r"))).toMatchObject({ ok: false, limit: 3 });
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
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

/**
 * A Redis that accepts connections and stops answering. With `answerHandshake` it first answers
 * the client's connection handshake (HELLO, CLIENT, INFO), so the client is "ready" and then hangs on
 * the counter command itself, the case only a command timeout can end.
 */
async function silentRedis(
  answerHandshake: boolean,
): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let pending = "";
    socket.on("data", (chunk) => {
      if (!answerHandshake) return;
      pending += chunk.toString("latin1");
      for (;;) {
        const command = takeCommand(pending);
        if (command === undefined) return;
        pending = pending.slice(command.length);
        const name = command.name.toUpperCase();
        if (name === "INFO") {
          const info = "# Server\r\nredis_version:7.0.0\r\nloading:0\r\n";
          socket.write(`$${Buffer.byteLength(info)}\r\n${info}\r\n`);
        } else if (name === "HELLO") {
          socket.write("-ERR unknown command 'HELLO'\r\n");
        } else if (name === "CLIENT" || name === "SELECT") {
          socket.write("+OK\r\n");
        }
        // Anything else (the counter's script) is never answered.
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `redis://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One complete RESP array command at the start of `buffer`: its name and its length. */
function takeCommand(buffer: string): { name: string; length: number } | undefined {
  const header = /^\*(\d+)\r\n/.exec(buffer);
  if (!header) return undefined;
  let offset = header[0].length;
  let name = "";
  for (let i = 0; i < Number(header[1]); i += 1) {
    const bulk = /^\$(\d+)\r\n/.exec(buffer.slice(offset));
    if (!bulk) return undefined;
    const start = offset + bulk[0].length;
    const end = start + Number(bulk[1]);
    if (buffer.length < end + 2) return undefined;
    if (i === 0) name = buffer.slice(start, end);
    offset = end + 2;
  }
  return { name, length: offset };
}

describe("a Redis that hangs", () => {
  it.each([
    ["after the handshake (ready, then silent)", true],
    ["from the first byte (never ready)", false],
  ])(
    "falls back to the insurance limiter within the command timeout: %s",
    async (_label, handshake) => {
      const fake = await silentRedis(handshake);
      const redis = new Redis(fake.url, { ...redisClientOptions(100), lazyConnect: true });
      redis.on("error", () => undefined);
      try {
        if (handshake) {
          await redis.connect();
          expect(redis.status).toBe("ready");
        } else {
          void redis.connect().catch(() => undefined);
          await once(redis, "connect");
        }
        const limiter = createQuotaLimiter({ redis, keyPrefix: `hang-${randomUUID()}` });
        const started = performance.now();
        const outcomes = [];
        for (let i = 0; i < 4; i += 1) outcomes.push((await limiter.consume(charge("h"))).ok);
        // The insurance limiter counts: three allowed, then limited.
        expect(outcomes).toEqual([true, true, true, false]);
        // Four decisions well inside Envoy's ext_authz timeout, not stuck behind Redis.
        expect(performance.now() - started).toBeLessThan(1500);
        // Three timeouts in a row: the breaker stops asking Redis.
        expect(limiter.breaker?.state()).toBe("open");
        await limiter.refund(charge("h"));
        limiter.close();
      } finally {
        redis.disconnect();
        await fake.close();
      }
    },
    10_000,
  );

  it("sets a command timeout and no offline queue", () => {
    expect(redisClientOptions(250)).toMatchObject({
      commandTimeout: 250,
      enableOfflineQueue: false,
    });
  });
});
