/**
 * A Redis that stops answering, between a real ext-authz and the real local Redis: a TCP proxy
 * that can be switched to stall (connections accepted, bytes held, nothing forwarded). The
 * circuit breaker opens after a few timed-out counter commands; then Checks are decided by the
 * in-memory insurance limiter with no Redis round trip; Redis is probed periodically; the breaker
 * closes once Redis answers. Every state change is logged once, counted on /metrics and shown as
 * `degraded` on /ready, while gRPC health stays SERVING. Synchronization is on log events and
 * Check answers, never on sleeps.
 */
import net from "node:net";
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthzClient, type AuthzClient } from "../../contract/src/authz-wire.ts";
import { createLogger } from "../../contract/src/log.ts";
import { startExtAuthz, type RunningExtAuthz } from "../../ext-authz/src/main.ts";
import {
  checkRequest,
  makeToken,
  NOW_MS,
  recordingAudit,
  testConfig,
  TEST_ENV,
} from "../../ext-authz/test/fixture-config.ts";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const COMMAND_TIMEOUT_MS = 250;
const BREAKER_FAILURES = 3;
const PROBE_MS = 200;
/** Bound on every wait for an event in this file. */
const EVENT_TIMEOUT_MS = 10_000;

async function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

const redisUp = await reachable(REDIS_URL);
if (!redisUp) {
  if (process.env.CI === "true") throw new Error(`Redis must be reachable at ${REDIS_URL} in CI`);
  console.warn("redis-stall fault test: Redis not reachable, skipped");
}

/** The names of the complete RESP commands at the start of `buffer`, and the bytes they used. */
function takeCommands(buffer: string): { names: string[]; used: number } {
  const names: string[] = [];
  let used = 0;
  for (;;) {
    const rest = buffer.slice(used);
    const header = /^\*(\d+)\r\n/.exec(rest);
    if (!header) return { names, used };
    let offset = header[0].length;
    let name = "";
    for (let i = 0; i < Number(header[1]); i += 1) {
      const bulk = /^\$(\d+)\r\n/.exec(rest.slice(offset));
      if (!bulk) return { names, used };
      const start = offset + bulk[0].length;
      const end = start + Number(bulk[1]);
      if (rest.length < end + 2) return { names, used };
      if (i === 0) name = rest.slice(start, end).toUpperCase();
      offset = end + 2;
    }
    names.push(name);
    used += offset;
  }
}

type StallProxy = {
  url: string;
  /** Commands received from clients by name, counted whether forwarded or held. */
  commands: Map<string, number>;
  stall(): void;
  /** Forwards again, held bytes first, so replies stay in the order clients expect them. */
  resume(): void;
  close(): Promise<void>;
};

async function startStallProxy(target: string): Promise<StallProxy> {
  const { hostname, port } = new URL(target);
  const commands = new Map<string, number>();
  const links = new Set<{ flush(): void; destroy(): void }>();
  let stalled = false;

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port || 6379) });
    const toRedis: Buffer[] = [];
    const toClient: Buffer[] = [];
    let parsed = "";
    const link = {
      flush() {
        for (const chunk of toRedis.splice(0)) upstream.write(chunk);
        for (const chunk of toClient.splice(0)) client.write(chunk);
      },
      destroy() {
        client.destroy();
        upstream.destroy();
      },
    };
    links.add(link);
    client.on("data", (chunk: Buffer) => {
      parsed += chunk.toString("latin1");
      const { names, used } = takeCommands(parsed);
      parsed = parsed.slice(used);
      for (const name of names) commands.set(name, (commands.get(name) ?? 0) + 1);
      if (stalled) toRedis.push(chunk);
      else upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (stalled) toClient.push(chunk);
      else client.write(chunk);
    });
    const end = () => {
      links.delete(link);
      link.destroy();
    };
    client.on("close", end);
    upstream.on("close", end);
    client.on("error", () => undefined);
    upstream.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    commands,
    stall() {
      stalled = true;
    },
    resume() {
      stalled = false;
      for (const link of links) link.flush();
    },
    close: async () => {
      for (const link of links) link.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type LogLine = { level: number; msg: string; [field: string]: unknown };

/** A pino destination that keeps every line and resolves waiters when a matching one arrives. */
function logCapture() {
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  return {
    lines,
    destination: {
      write(text: string) {
        const line = JSON.parse(text) as LogLine;
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (!waiter.match(line)) continue;
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      },
    },
    /** The first matching line, already logged or still to come. */
    first(match: (line: LogLine) => boolean, what: string): Promise<LogLine> {
      const seen = lines.find(match);
      return seen === undefined ? this.next(match, what) : Promise.resolve(seen);
    },
    /** The next line (from now on) that matches, or a rejection after EVENT_TIMEOUT_MS. */
    next(match: (line: LogLine) => boolean, what: string): Promise<LogLine> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(entry), 1);
          reject(new Error(`no log line "${what}" within ${EVENT_TIMEOUT_MS} ms`));
        }, EVENT_TIMEOUT_MS);
        const entry = {
          match,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(entry);
      });
    },
  };
}

const isBreakerLine = (line: LogLine) => typeof line.redisBreaker === "string";
const COUNTER_COMMANDS = ["EVALSHA", "EVAL", "MULTI", "INCRBY", "SET"];

describe.skipIf(!redisUp)("Redis stalls behind ext-authz", () => {
  const keyPrefix = `test-faults:${randomUUID()}`;
  const logs = logCapture();
  let proxy: StallProxy;
  let extAuthz: RunningExtAuthz;
  let client: AuthzClient;
  let token: string;

  beforeAll(async () => {
    proxy = await startStallProxy(REDIS_URL);
    extAuthz = await startExtAuthz({
      env: {
        ...TEST_ENV,
        REDIS_URL: proxy.url,
        RATE_LIMIT_KEY_PREFIX: keyPrefix,
        REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
        REDIS_BREAKER_FAILURES: String(BREAKER_FAILURES),
        REDIS_BREAKER_PROBE_MS: String(PROBE_MS),
      },
      config: testConfig(),
      host: "127.0.0.1",
      port: 0,
      metricsPort: 0,
      audit: recordingAudit(),
      logger: createLogger({ name: "ext-authz", level: "debug", destination: logs.destination }),
      now: () => NOW_MS,
    });
    client = createAuthzClient(`127.0.0.1:${extAuthz.port}`);
    token = await makeToken();
    // Checks before the counter client is connected would be decided in memory (and counted as
    // Redis failures): start from a connected client.
    await logs.first((line) => line.msg === "redis ready", "redis ready");
  });

  afterAll(async () => {
    client?.close();
    await extAuthz?.close();
    await proxy?.close();
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on("error", () => undefined);
    try {
      await redis.connect();
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  const counterCommands = () =>
    COUNTER_COMMANDS.reduce((sum, name) => sum + (proxy.commands.get(name) ?? 0), 0);

  /** One tools/call Check: three quota counters (user+tool, user, tool). */
  async function timedCheck(): Promise<{ ms: number; allowed: boolean }> {
    const started = performance.now();
    const response = await client.check(
      checkRequest({
        path: "/calculator/mcp",
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "exact_calculate", arguments: {} },
        }),
      }),
      { deadlineMs: 5_000 },
    );
    return { ms: performance.now() - started, allowed: response.status?.code === 0 };
  }

  async function http(path: string): Promise<{ status: number; text: string }> {
    const response = await fetch(`http://127.0.0.1:${extAuthz.metricsPort}${path}`);
    return { status: response.status, text: await response.text() };
  }

  function metric(text: string, series: string): number | undefined {
    const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  }

  it("counts in Redis while it answers", async () => {
    const before = counterCommands();
    expect((await timedCheck()).allowed).toBe(true);
    // All three counters in one script: one round trip.
    expect(counterCommands() - before).toBe(1);
    expect(extAuthz.degradation()).toEqual({ degraded: false, redis: "closed" });
    const ready = await http("/ready");
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({
      status: "serving",
      degraded: false,
      redis: "closed",
      config: expect.objectContaining({ status: "ok" }),
    });
    const metrics = (await http("/metrics")).text;
    expect(metric(metrics, 'ext_authz_redis_breaker_state{state="closed"}')).toBe(1);
    expect(metric(metrics, 'ext_authz_redis_breaker_transitions_total{to="open"}')).toBe(0);
  });

  it("opens after a few timeouts, then decides in memory without touching Redis", async () => {
    const opened = logs.next(
      (line) => line.redisBreaker === "open" && line.from === "closed",
      "breaker open",
    );
    proxy.stall();
    // Each Check sends one script and pays one command timeout: the third failure opens it.
    const stalled: { ms: number; allowed: boolean }[] = [];
    for (let i = 0; i < BREAKER_FAILURES; i += 1) stalled.push(await timedCheck());
    expect(stalled.every((check) => check.allowed)).toBe(true);
    expect(stalled.every((check) => check.ms >= COMMAND_TIMEOUT_MS * 0.9)).toBe(true);
    const first = { ms: Math.max(...stalled.map((check) => check.ms)) };
    const openLine = await opened;
    expect(openLine).toMatchObject({ level: 40, cause: "timeout", consecutiveFailures: 3 });
    expect(extAuthz.degradation()).toMatchObject({ degraded: true });

    const countersBefore = counterCommands();
    const latencies: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const check = await timedCheck();
      expect(check.allowed).toBe(true);
      latencies.push(check.ms);
    }
    // No Redis round trip: not one counter command reached the proxy while the breaker was open.
    expect(counterCommands()).toBe(countersBefore);
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)]!;
    const max = latencies[latencies.length - 1]!;
    console.log(
      `Redis stalled: ${BREAKER_FAILURES} Checks of up to ${Math.round(first.ms)} ms (one ` +
        `${COMMAND_TIMEOUT_MS} ms timeout each), then 30 Checks with the breaker open: median ` +
        `${median.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    // Nothing waits for Redis any more (the command count above is the exact proof; these bounds
    // are generous for a shared machine): a Check that waited would take a command timeout.
    expect(median).toBeLessThan(COMMAND_TIMEOUT_MS / 2);
    expect(max).toBeLessThan(BREAKER_FAILURES * COMMAND_TIMEOUT_MS);

    // Probing continues while Redis hangs: a probe times out and the breaker opens again.
    await logs.next(
      (line) => line.redisBreaker === "open" && line.from === "half_open",
      "failed probe",
    );
    expect(counterCommands()).toBe(countersBefore);
    expect(proxy.commands.get("PING") ?? 0).toBeGreaterThanOrEqual(1);

    // Deciding, so gRPC health stays SERVING; degraded where operators look.
    expect(await client.health()).toEqual({ status: "SERVING" });
    const ready = await http("/ready");
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: "serving", degraded: true });
    expect(["open", "half_open"]).toContain(JSON.parse(ready.text).redis);
    // Probes go on while this runs: the scrape sits between the log counts before and after it.
    const openLines = () => logs.lines.filter((line) => line.redisBreaker === "open").length;
    const openedBefore = openLines();
    const metrics = (await http("/metrics")).text;
    const openedAfter = openLines();
    expect(metric(metrics, 'ext_authz_redis_breaker_state{state="closed"}')).toBe(0);
    const openedCounted = metric(metrics, 'ext_authz_redis_breaker_transitions_total{to="open"}');
    expect(openedCounted).toBeGreaterThanOrEqual(openedBefore);
    expect(openedCounted).toBeLessThanOrEqual(openedAfter);
    expect(
      metric(metrics, 'ext_authz_redis_breaker_transitions_total{to="half_open"}'),
    ).toBeGreaterThanOrEqual(1);

    // Logged once per state change, not per request: one warning for 31 Checks.
    const warnings = logs.lines.filter((line) => isBreakerLine(line) && line.level >= 40);
    expect(warnings).toHaveLength(1);
  });

  it("closes when Redis answers a probe, and counts in Redis again", async () => {
    const closed = logs.next((line) => line.redisBreaker === "closed", "breaker closed");
    const resumedAt = performance.now();
    proxy.resume();
    const closedLine = await closed;
    const closedAfterMs = performance.now() - resumedAt;
    expect(closedLine).toMatchObject({ level: 30, from: "half_open" });
    console.log(
      `Redis answered again: breaker closed ${Math.round(closedAfterMs)} ms after the stall ` +
        `ended (probe every ${PROBE_MS} ms)`,
    );
    expect(closedAfterMs).toBeLessThan(PROBE_MS + COMMAND_TIMEOUT_MS + 2_000);

    const before = counterCommands();
    const check = await timedCheck();
    expect(check.allowed).toBe(true);
    expect(counterCommands() - before).toBe(1);
    expect(extAuthz.degradation()).toEqual({ degraded: false, redis: "closed" });
    const ready = await http("/ready");
    expect(JSON.parse(ready.text)).toEqual({
      status: "serving",
      degraded: false,
      redis: "closed",
      config: expect.objectContaining({ status: "ok" }),
    });
    const metrics = (await http("/metrics")).text;
    expect(metric(metrics, 'ext_authz_redis_breaker_state{state="closed"}')).toBe(1);
    expect(metric(metrics, 'ext_authz_redis_breaker_transitions_total{to="closed"}')).toBe(1);
    const breakerLines = logs.lines.filter(isBreakerLine);
    // Exactly one line per transition the counter saw.
    const transitions = ["open", "half_open", "closed"].reduce(
      (sum, to) =>
        sum + (metric(metrics, `ext_authz_redis_breaker_transitions_total{to="${to}"}`) ?? 0),
      0,
    );
    expect(breakerLines).toHaveLength(transitions);
    expect(
      breakerLines.filter((line) => line.level >= 30).map((line) => line.redisBreaker),
    ).toEqual(["open", "closed"]);
  });
});
