import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { signGatewayAuth } from "../../../contract/src/gateway-auth.ts";
import { createReplayCache } from "../src/replay-cache.ts";
import { authFromEnv, parseToolServerEnv } from "../src/tool-server-env.ts";
import { defineTool, toolOk } from "../src/tool-definition.ts";
import { createToolServer, type ToolServer, type ToolServerAuth } from "../src/tool-server.ts";

/**
 * A captured X-Gateway-Auth is good for one call, on the tool server it was minted for, and not
 * before its time: replayed on the same server, sent to another one, or dated too far ahead, it is
 * refused like any other bad signature (401, one generic body) with its own reason in the log.
 */

const echo = defineTool({
  name: "echo",
  description: "Echoes text back",
  inputSchema: z.object({ text: z.string().max(100) }),
  outputSchema: z.object({ text: z.string() }),
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  handler: ({ text }) => toolOk({ text }),
});

const SECRET = randomBytes(32).toString("hex");
const CLOCK = Date.UTC(2026, 5, 1, 12, 0, 0);
const BODY = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "tools/call",
  params: { name: "echo", arguments: { text: "hi" } },
});

type Running = { server: ToolServer; mcpUrl: string; logs: Record<string, unknown>[] };
const running: Running[] = [];

async function start(
  name: string,
  auth: Partial<ToolServerAuth> = {},
  now: () => number = () => CLOCK,
): Promise<Running> {
  const logs: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "info" },
    { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) },
  );
  const server = createToolServer({
    name,
    version: "0.0.0",
    tools: [echo],
    auth: { secret: SECRET, ...auth },
    logger,
    now,
  });
  const { url } = await server.listen(0, "127.0.0.1");
  const handle = { server, mcpUrl: `${url}/mcp`, logs };
  running.push(handle);
  return handle;
}

afterAll(async () => {
  await Promise.all(running.map(({ server }) => server.close({ graceMs: 500 })));
});

function signed(
  audience: string,
  options: { now?: number; requestId?: string; secret?: string } = {},
) {
  const requestId = options.requestId ?? "req-1";
  return {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "x-user-id": "alice",
    "x-request-id": requestId,
    "x-gateway-auth": signGatewayAuth({
      secret: options.secret ?? SECRET,
      audience,
      userId: "alice",
      requestId,
      body: BODY,
      now: options.now ?? CLOCK,
    }),
  };
}

async function post(target: Running, headers: Record<string, string>) {
  const response = await fetch(target.mcpUrl, { method: "POST", headers, body: BODY });
  const body: unknown = await response.json();
  return { status: response.status, body };
}

const refusals = (target: Running) =>
  target.logs
    .filter((line) => line.msg === "tool call refused: X-Gateway-Auth rejected")
    .map((line) => line.reason);

/** What a forged header gets: every refusal below must look exactly like it. */
async function forgedRefusal(target: Running) {
  const before = target.logs.length;
  const answer = await post(target, { ...signed("calculator"), "x-gateway-auth": "forged" });
  target.logs.splice(before);
  return answer;
}

describe("X-Gateway-Auth on a tool server", () => {
  let calculator: Running;
  let git: Running;
  beforeAll(async () => {
    calculator = await start("calculator");
    git = await start("git");
  });

  it("accepts a header once and refuses it replayed on the same server", async () => {
    const headers = signed("calculator", { requestId: "once" });
    expect((await post(calculator, headers)).status).toBe(200);
    const replay = await post(calculator, headers);
    expect(replay).toEqual(await forgedRefusal(calculator));
    expect(replay.status).toBe(401);
    expect(refusals(calculator)).toEqual(["replayed"]);
  });

  it("refuses a header minted for another tool server, which can still use it", async () => {
    const headers = signed("calculator", { requestId: "elsewhere" });
    expect(await post(git, headers)).toEqual(await forgedRefusal(git));
    expect(refusals(git)).toEqual(["wrong_audience"]);
    // The refusal at git did not use it up: it is still good once where it was meant to go.
    expect((await post(calculator, headers)).status).toBe(200);
  });

  it("accepts two identical calls minted separately", async () => {
    expect((await post(calculator, signed("calculator", { requestId: "twice" }))).status).toBe(200);
    expect((await post(calculator, signed("calculator", { requestId: "twice" }))).status).toBe(200);
  });

  it("refuses a timestamp more than 5 s ahead of its clock", async () => {
    expect((await post(calculator, signed("calculator", { now: CLOCK + 5_000 }))).status).toBe(200);
    const before = refusals(calculator).length;
    expect(await post(calculator, signed("calculator", { now: CLOCK + 6_000 }))).toEqual(
      await forgedRefusal(calculator),
    );
    expect(refusals(calculator).slice(before)).toEqual(["future"]);
  });

  it("never logs the header itself", async () => {
    const headers = signed("calculator", { requestId: "log-check" });
    await post(calculator, headers);
    await post(calculator, headers);
    await post(git, headers);
    const text = JSON.stringify([...calculator.logs, ...git.logs]);
    expect(text).not.toContain(headers["x-gateway-auth"].split(".")[4]);
    expect(text).not.toContain(SECRET);
  });
});

describe("tool server audience and window settings", () => {
  it("uses auth.audience instead of the name when given", async () => {
    const renamed = await start("calculator", { audience: "calc" });
    expect((await post(renamed, signed("calc"))).status).toBe(200);
    expect((await post(renamed, signed("calculator"))).status).toBe(401);
    expect(refusals(renamed)).toEqual(["wrong_audience"]);
  });

  it("honours a configured future skew", async () => {
    const strict = await start("strict", { futureSkewSeconds: 0 });
    expect((await post(strict, signed("strict", { now: CLOCK }))).status).toBe(200);
    expect((await post(strict, signed("strict", { now: CLOCK + 1_000 }))).status).toBe(401);
    expect(refusals(strict)).toEqual(["future"]);
  });

  it.each(["", "has space", "dotted.name", "x".repeat(65)])(
    "refuses to start with the audience %j",
    (audience) => {
      expect(() =>
        createToolServer({
          name: "tools",
          version: "0.0.0",
          tools: [echo],
          auth: { secret: SECRET, audience },
          logger: pino({ level: "silent" }),
        }),
      ).toThrow(/audience .* must be 1-64 characters/);
    },
  );

  it("refuses to start under a name that cannot be an audience, unless one is given", () => {
    const make = (auth: Partial<ToolServerAuth>) =>
      createToolServer({
        name: "My Tools",
        version: "0.0.0",
        tools: [echo],
        auth: { secret: SECRET, ...auth },
        logger: pino({ level: "silent" }),
      });
    expect(() => make({})).toThrow(/set auth.audience/);
    expect(() => make({ audience: "my-tools" })).not.toThrow();
  });

  it("stays bounded: a header it had to forget is refused, never accepted again", async () => {
    const small = await start("small", { replayCacheEntries: 2 });
    const first = signed("small", { now: CLOCK - 3_000, requestId: "a" });
    const second = signed("small", { now: CLOCK - 2_000, requestId: "b" });
    const third = signed("small", { now: CLOCK - 1_000, requestId: "c" });
    for (const headers of [first, second, third]) {
      expect((await post(small, headers)).status).toBe(200);
    }
    expect((await post(small, first)).status).toBe(401);
    expect((await post(small, second)).status).toBe(401);
    expect(refusals(small)).toEqual(["replay_cache_full", "replayed"]);
  });

  it("accepts the static secret any number of times on any server (it is bound to nothing)", async () => {
    const staticSecret = "s".repeat(40);
    const legacy = await start("legacy", { staticSecret });
    const headers = { ...signed("legacy"), "x-gateway-auth": staticSecret };
    expect((await post(legacy, headers)).status).toBe(200);
    expect((await post(legacy, headers)).status).toBe(200);
  });
});

describe("createReplayCache", () => {
  it("remembers a key until it expires, then lets it go", () => {
    const cache = createReplayCache({ maxEntries: 10 });
    expect(cache.claim("a", 100, 50)).toBe("first");
    expect(cache.claim("a", 100, 100)).toBe("replayed");
    expect(cache.claim("b", 160, 101)).toBe("first");
    expect(cache.size()).toBe(1);
  });

  it("refuses what it dropped, even if the clock steps back", () => {
    const cache = createReplayCache({ maxEntries: 10 });
    expect(cache.claim("a", 100, 50)).toBe("first");
    expect(cache.claim("b", 160, 101)).toBe("first");
    expect(cache.size()).toBe(1);
    expect(cache.claim("a", 100, 90)).toBe("forgotten");
    expect(cache.claim("c", 100, 90)).toBe("forgotten");
    expect(cache.claim("d", 101, 90)).toBe("first");
  });

  it("evicts the oldest entry when full and refuses anything that expires no later", () => {
    const cache = createReplayCache({ maxEntries: 2 });
    expect(cache.claim("a", 100, 0)).toBe("first");
    expect(cache.claim("b", 101, 0)).toBe("first");
    expect(cache.claim("c", 102, 0)).toBe("first");
    expect(cache.size()).toBe(2);
    expect(cache.claim("a", 100, 0)).toBe("forgotten");
    expect(cache.claim("late", 100, 0)).toBe("forgotten");
    expect(cache.claim("b", 101, 0)).toBe("replayed");
    // Full again: "b" goes, and a newcomer expiring with it cannot be told from it.
    expect(cache.claim("same-second", 101, 0)).toBe("forgotten");
    expect(cache.size()).toBe(1);
    expect(cache.claim("d", 103, 0)).toBe("first");
  });

  it("keeps its answers right across many evictions and expiries", () => {
    const cache = createReplayCache({ maxEntries: 100 });
    // 5,000 headers, ten per second, each good for 60 s: both eviction and expiry run often.
    for (let i = 0; i < 5_000; i++) {
      const second = Math.floor(i / 10);
      expect(cache.claim(`k${i}`, second + 60, second)).toBe("first");
      expect(cache.claim(`k${i}`, second + 60, second)).toBe("replayed");
      expect(cache.size()).toBeLessThanOrEqual(100);
    }
    expect(cache.claim("k4999", 559, 499)).toBe("replayed");
    expect(cache.claim("k4900", 550, 499)).toBe("replayed");
    expect(cache.claim("k4899", 549, 499)).toBe("forgotten");
    expect(cache.claim("k0", 60, 499)).toBe("forgotten");
  });

  it("never lowers what it has forgotten when an earlier-expiring entry goes after a later one", () => {
    const cache = createReplayCache({ maxEntries: 10 });
    // Router clocks differ: "late" arrives first, "early" (out of order) after it.
    expect(cache.claim("late", 100, 0)).toBe("first");
    expect(cache.claim("early", 50, 0)).toBe("first");
    // Both have expired by 101 and go, "late" first: what is forgotten stays up to 100.
    expect(cache.claim("probe", 200, 101)).toBe("first");
    expect(cache.claim("early", 80, 101)).toBe("forgotten");
    expect(cache.claim("other", 100, 101)).toBe("forgotten");
  });

  it("works with room for a single entry", () => {
    const cache = createReplayCache({ maxEntries: 1 });
    expect(cache.claim("a", 100, 0)).toBe("first");
    expect(cache.claim("a", 100, 0)).toBe("replayed");
    expect(cache.claim("b", 101, 0)).toBe("first");
    expect(cache.claim("a", 100, 0)).toBe("forgotten");
    expect(cache.size()).toBe(1);
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses maxEntries %s", (maxEntries) => {
    expect(() => createReplayCache({ maxEntries })).toThrow(/positive integer/);
  });
});

describe("TOOL_GATEWAY_AUDIENCE", () => {
  const parse = (audience: string | undefined) =>
    parseToolServerEnv({ TOOL_GATEWAY_SHARED_SECRET: SECRET, TOOL_GATEWAY_AUDIENCE: audience }, 1);

  it("sets the audience when given, and leaves the server name in charge when unset or blank", () => {
    const given = parse("calc");
    if (!given.ok) throw new Error(given.message);
    expect(authFromEnv(given.env)).toEqual({ secret: SECRET, audience: "calc" });
    for (const unset of [undefined, ""]) {
      const parsed = parse(unset);
      if (!parsed.ok) throw new Error(parsed.message);
      expect(authFromEnv(parsed.env)).toEqual({ secret: SECRET });
    }
  });

  it.each(["a.b", "two words", "x".repeat(65)])("refuses %j with a clear message", (audience) => {
    expect(parse(audience)).toEqual({
      ok: false,
      message:
        "TOOL_GATEWAY_AUDIENCE: TOOL_GATEWAY_AUDIENCE must be the scope name: 1-64 characters of A-Z a-z 0-9 _ -",
    });
  });
});
