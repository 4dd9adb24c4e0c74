import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  checkRoutingHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  eraOf,
  MCP_NAME_SOURCE,
  mcpNameSource,
  META_KEY,
  readMessage,
  SESSION_PROTOCOL_VERSIONS,
  STATELESS_PROTOCOL_VERSIONS,
  type WireMessage,
} from "../../contract/src/mcp-wire.ts";
import { checkParamHeaders, paramHeaderBindings } from "../../contract/src/mcp-param-headers.ts";
import { BRIDGE_TOKEN, startBridge, type BridgeProcess } from "./bridge-process.ts";
import {
  startRecordingUpstream,
  UPSTREAM_SESSION_ID,
  type Recorded,
  type RecordingUpstream,
} from "./recording-upstream.ts";

/**
 * The bridge keeps its own copy of the 2026-07-28 routing rules (it runs standalone and cannot
 * import contract/src/mcp-wire.ts). These tests drive the real bridge process and hold every header
 * it produces to the contract: the same era per message, the same Mcp-Name table and encoding, and
 * a header set checkRoutingHeaders accepts.
 */

const STATELESS: string = STATELESS_PROTOCOL_VERSIONS[0];
/** Not a revision anyone speaks yet: still stateless by the body, so the gateway answers -32022. */
const FUTURE_VERSION = "2099-01-01";

const TRICKY_VALUES = [
  "add",
  "scope.tool-name_1",
  "a b",
  "tab\tinside",
  "",
  " ",
  " leading",
  "trailing ",
  "\tleading-tab",
  "café",
  "日本語",
  "rocket 🚀",
  "line\nbreak",
  "nul\u0000",
  "del\u007f",
  "=?base64?Zm9v?=",
  "=?base64?=",
  "=?base64?",
  "?=",
  "=?base64?not base64!?=",
  "file:///srv/docs/read me.md",
  "x".repeat(2000),
];

/** Every method of the contract's table, and request methods (or lookalikes) that are not in it. */
const TABLE_METHODS = Object.keys(MCP_NAME_SOURCE);
const OFF_TABLE_METHODS = [
  "tools/list",
  "prompts/list",
  "resources/list",
  "resources/templates/list",
  "resources/subscribe",
  "resources/unsubscribe",
  "completion/complete",
  "logging/setLevel",
  "server/discover",
  "subscriptions/listen",
  "tasks/list",
  "tasks/result",
  "ping",
  "constructor",
  "toString",
  "hasOwnProperty",
  "__proto__",
];

type Message = Record<string, unknown>;

function meta(version: string): Record<string, unknown> {
  return {
    [META_KEY.protocolVersion]: version,
    [META_KEY.clientCapabilities]: {},
    [META_KEY.clientInfo]: { name: "bridge-wire-test", version: "1.0.0" },
  };
}

function statelessRequest(id: number, method: string, params: Message = {}, version = STATELESS) {
  return { jsonrpc: "2.0", id, method, params: { ...params, _meta: meta(version) } };
}

function header(request: Recorded, name: string): string | undefined {
  const value = request.headers[name];
  if (Array.isArray(value)) throw new Error(`${name} sent more than once`);
  return value;
}

function wire(body: unknown): WireMessage {
  const message = readMessage(body);
  if (message === undefined) throw new Error("the upstream received an invalid JSON-RPC message");
  return message;
}

/** What the contract demands of one relayed stateless message, checked on what arrived. */
function expectContractHeaders(sent: Message, received: Recorded): void {
  expect(received.method).toBe("POST");
  expect(received.body).toEqual(sent);
  const message = wire(received.body);
  const version = header(received, "mcp-protocol-version");
  expect(eraOf(message, version)).toBe("stateless");
  expect(eraOf(message, undefined)).toBe("stateless");
  const routing = {
    protocolVersion: version,
    method: header(received, "mcp-method"),
    name: header(received, "mcp-name"),
  };
  expect(checkRoutingHeaders(message, routing, "stateless")).toBeUndefined();
  expect(routing.protocolVersion).toBe(
    (sent.params as { _meta: Record<string, unknown> })._meta[META_KEY.protocolVersion],
  );
  if (message.kind !== "response") expect(routing.method).toBe(message.method);
  const source =
    message.kind === "response" ? undefined : mcpNameSource(message.method, message.params);
  if (source?.value === undefined) {
    expect(routing.name).toBeUndefined();
  } else {
    expect(routing.name).toBe(encodeHeaderValue(source.value));
    expect(decodeHeaderValue(routing.name!)).toBe(source.value);
  }
  expect(received.headers["mcp-session-id"]).toBeUndefined();
  expect(received.headers.authorization).toBe(`Bearer ${BRIDGE_TOKEN}`);
}

let upstream: RecordingUpstream;
const bridges: BridgeProcess[] = [];

function bridge(): BridgeProcess {
  const started = startBridge(upstream.url);
  bridges.push(started);
  return started;
}

describe("the bridge's 2026-07-28 routing headers agree with contract/src/mcp-wire.ts", () => {
  let shared: BridgeProcess;
  let nextId = 1000;

  /** Sends one stateless request and returns what the upstream received for it. */
  async function relay(method: string, params: Message, version = STATELESS) {
    const id = nextId++;
    const sent = statelessRequest(id, method, params, version);
    shared.send(sent);
    const answer = await shared.response(id);
    expect(answer).toEqual({ jsonrpc: "2.0", id, result: { method } });
    return { sent, received: upstream.postWithId(id) };
  }

  beforeAll(async () => {
    upstream = await startRecordingUpstream();
    shared = startBridge(upstream.url);
    // A session-era session is open beside the stateless traffic: its id must not leak into it.
    shared.send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "bridge-wire-test", version: "1.0.0" },
      },
    });
    expect(await shared.response(1)).toMatchObject({ result: { protocolVersion: "2025-11-25" } });
    shared.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    await upstream.waitFor((request) => request.method === "GET");
  });
  afterAll(async () => {
    shared.kill();
    await upstream.close();
  });

  it.each(
    TABLE_METHODS.flatMap((method) => TRICKY_VALUES.map((value) => [method, value] as const)),
  )("%s with %j: Mcp-Name is the contract's encoding of the body field", async (method, value) => {
    // Decoys in the other fields: a bridge reading the wrong field sends the wrong value.
    const field = MCP_NAME_SOURCE[method]!;
    const params = { name: "decoy-name", uri: "decoy://uri", taskId: "decoy-task", [field]: value };
    const { sent, received } = await relay(method, params);
    expectContractHeaders(sent, received);
    expect(header(received, "mcp-name")).toBe(encodeHeaderValue(value));
  });

  // Off the table (for today's contract: no Mcp-Name), so an entry only the bridge has shows up.
  it.each(OFF_TABLE_METHODS)("%s carries the headers the contract demands", async (method) => {
    const { sent, received } = await relay(method, { name: "n", uri: "u", taskId: "t" });
    expectContractHeaders(sent, received);
  });

  it.each(
    TABLE_METHODS.flatMap((method) =>
      [42, null, true, { nested: "x" }].map((value) => [method, value] as const),
    ),
  )("%s whose body field is %j carries no Mcp-Name", async (method, value) => {
    const { sent, received } = await relay(method, { [MCP_NAME_SOURCE[method]!]: value });
    expectContractHeaders(sent, received);
    expect(header(received, "mcp-name")).toBeUndefined();
  });

  it.each(TABLE_METHODS)(
    "%s without params (no _meta either) stays in the session",
    async (method) => {
      const id = nextId++;
      shared.send({ jsonrpc: "2.0", id, method });
      await shared.response(id);
      const received = upstream.postWithId(id);
      expect(eraOf(wire(received.body), undefined)).toBe("session");
      expect(header(received, "mcp-method")).toBeUndefined();
      expect(header(received, "mcp-session-id")).toBe(UPSTREAM_SESSION_ID);
    },
  );

  it.each([...STATELESS_PROTOCOL_VERSIONS, FUTURE_VERSION, "not-a-date"])(
    "a request claiming %s is stateless, as eraOf says",
    async (version) => {
      const { sent, received } = await relay("tools/call", { name: "add" }, version);
      expect(eraOf(wire(sent), undefined)).toBe("stateless");
      expectContractHeaders(sent, received);
      expect(header(received, "mcp-protocol-version")).toBe(version);
    },
  );

  it.each([...SESSION_PROTOCOL_VERSIONS])(
    "a request claiming %s stays in the session, as eraOf says",
    async (version) => {
      const id = nextId++;
      const sent = statelessRequest(id, "tools/call", { name: "add" }, version);
      expect(eraOf(wire(sent), undefined)).toBe("session");
      shared.send(sent);
      await shared.response(id);
      const received = upstream.postWithId(id);
      expect(received.body).toEqual(sent);
      expect(header(received, "mcp-session-id")).toBe(UPSTREAM_SESSION_ID);
      expect(header(received, "mcp-protocol-version")).toBe("2025-11-25");
      expect(header(received, "mcp-method")).toBeUndefined();
      expect(header(received, "mcp-name")).toBeUndefined();
    },
  );

  it("a stateless notification carries the version and method headers, no session id", async () => {
    const sent = {
      jsonrpc: "2.0",
      method: "notifications/roots/list_changed",
      params: { _meta: meta(STATELESS) },
    };
    shared.send(sent);
    const received = await upstream.waitFor(
      (request) => request.body?.method === "notifications/roots/list_changed",
    );
    expectContractHeaders(sent, received);
  });
});

describe("stateless traffic through the bridge", () => {
  beforeEach(async () => {
    upstream = await startRecordingUpstream();
  });
  afterEach(async () => {
    for (const started of bridges.splice(0)) started.kill();
    await upstream.close();
  });

  it("a client that never initializes is served by POSTs alone: no session id, GET or DELETE", async () => {
    const client = bridge();
    client.send(statelessRequest(1, "server/discover"));
    client.send(statelessRequest(2, "tools/list"));
    client.send(statelessRequest(3, "tools/call", { name: "add", arguments: { a: 1, b: 2 } }));
    expect(await client.response(1)).toEqual({
      jsonrpc: "2.0",
      id: 1,
      result: { method: "server/discover" },
    });
    expect(await client.response(2)).toMatchObject({ result: { method: "tools/list" } });
    expect(await client.response(3)).toMatchObject({ result: { method: "tools/call" } });
    // The client going away ends the bridge; with no session there is nothing to DELETE.
    expect(await client.end()).toBe(0);
    expect(upstream.requests.map((request) => request.method)).toEqual(["POST", "POST", "POST"]);
    expect(upstream.requests.map((request) => header(request, "mcp-method"))).toEqual([
      "server/discover",
      "tools/list",
      "tools/call",
    ]);
    expect(header(upstream.postWithId(3), "mcp-name")).toBe("add");
    expect(
      upstream.requests.every((request) => request.headers["mcp-session-id"] === undefined),
    ).toBe(true);
  });

  it("relays the notifications and the result of an SSE answer, in order", async () => {
    upstream.setHandler((body, _req, res) => {
      if (body.method !== "tools/call") return false;
      res.writeHead(200, { "content-type": "text/event-stream" });
      const progress = {
        jsonrpc: "2.0",
        method: "notifications/progress",
        params: { progressToken: "p1", progress: 1, total: 2 },
      };
      const result = {
        jsonrpc: "2.0",
        id: body.id,
        result: { content: [], resultType: "complete" },
      };
      res.write(`event: message\ndata: ${JSON.stringify(progress)}\n\n`);
      res.end(`id: e2\ndata: ${JSON.stringify(result)}\n\n`);
      return true;
    });
    const client = bridge();
    client.send(statelessRequest(7, "tools/call", { name: "count_to" }));
    const answer = await client.response(7);
    expect(answer).toEqual({
      jsonrpc: "2.0",
      id: 7,
      result: { content: [], resultType: "complete" },
    });
    expect(client.received.map((message) => message.method ?? message.id)).toEqual([
      "notifications/progress",
      7,
    ]);
  });

  it("hands the gateway's refusal to the client as the JSON-RPC error of that request", async () => {
    upstream.setHandler((body, _req, res) => {
      if (body.method !== "tools/call") return false;
      res.writeHead(400, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          jsonrpc: "2.0",
          id: null,
          error: { code: -32020, message: "Mcp-Name header does not match params.name" },
        }),
      );
      return true;
    });
    const client = bridge();
    client.send(statelessRequest(9, "tools/call", { name: "add" }));
    expect(await client.response(9)).toEqual({
      jsonrpc: "2.0",
      id: 9,
      error: { code: -32020, message: "Mcp-Name header does not match params.name" },
    });
  });

  it("answers -32603 when the gateway ends its answer without a response", async () => {
    upstream.setHandler((_body, _req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(": nothing to say\n\n");
      return true;
    });
    const client = bridge();
    client.send(statelessRequest(11, "tools/list"));
    expect(await client.response(11)).toMatchObject({
      id: 11,
      error: { code: -32603, message: expect.stringMatching(/without a response/) },
    });
  });

  it("cancels by closing the request's stream; notifications/cancelled is not forwarded", async () => {
    let closed!: () => void;
    const streamClosed = new Promise<void>((resolve) => (closed = resolve));
    upstream.setHandler((body, _req, res) => {
      if (body.method !== "tools/call") return false;
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": working\n\n");
      res.on("close", closed);
      return true;
    });
    const client = bridge();
    client.send(statelessRequest(21, "tools/call", { name: "wait" }));
    await upstream.waitFor((request) => request.body?.id === 21);
    client.send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: 21, reason: "user gave up", _meta: meta(STATELESS) },
    });
    await streamClosed;

    // The bridge keeps serving; nothing was answered for the cancelled request.
    client.send(statelessRequest(22, "tools/list"));
    await client.response(22);
    expect(client.received.filter((message) => message.id === 21)).toEqual([]);
    expect(upstream.requests.map((request) => request.body?.method)).toEqual([
      "tools/call",
      "tools/list",
    ]);
    expect(client.stderr()).not.toMatch(/failed/);
  });

  it("serves a session and stateless requests side by side", async () => {
    const client = bridge();
    client.send({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "bridge-wire-test", version: "1.0.0" },
      },
    });
    await client.response(1);
    client.send({ jsonrpc: "2.0", method: "notifications/initialized" });
    client.send({ jsonrpc: "2.0", id: 2, method: "tools/list" });
    client.send(statelessRequest(3, "tools/list"));
    await client.response(2);
    await client.response(3);
    await upstream.waitFor((request) => request.method === "GET");
    expect(await client.end()).toBe(0);

    const session = upstream.postWithId(2);
    expect(header(session, "mcp-session-id")).toBe(UPSTREAM_SESSION_ID);
    expect(header(session, "mcp-protocol-version")).toBe("2025-06-18");
    expect(header(session, "mcp-method")).toBeUndefined();
    const stateless = upstream.postWithId(3);
    expect(header(stateless, "mcp-session-id")).toBeUndefined();
    expect(header(stateless, "mcp-protocol-version")).toBe(STATELESS);
    // GET and DELETE belong to the session (the DELETE ends it when the client goes away).
    const others = upstream.requests.filter((request) => request.method !== "POST");
    expect(others.map((request) => request.method).sort()).toEqual(["DELETE", "GET"]);
    expect(
      others.every((request) => header(request, "mcp-session-id") === UPSTREAM_SESSION_ID),
    ).toBe(true);
  });
});

describe("Mcp-Param-* headers through the bridge (SEP-2243)", () => {
  const deploySchema = {
    type: "object",
    properties: {
      region: { type: "string", "x-mcp-header": "Region" },
      replicas: { type: "integer", "x-mcp-header": "Replicas" },
      target: {
        type: "object",
        properties: { canary: { type: "boolean", "x-mcp-header": "Canary" } },
      },
    },
  };
  const bindings = paramHeaderBindings(deploySchema);

  /** Plays the gateway: lists deploy, and refuses a call whose headers disagree (-32020). */
  function gatewayWithDeploy(): void {
    upstream.setHandler((body, req, res) => {
      const reply = (status: number, message: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(message));
      };
      if (body.method === "tools/list") {
        reply(200, {
          jsonrpc: "2.0",
          id: body.id,
          result: { tools: [{ name: "deploy", inputSchema: deploySchema }] },
        });
        return true;
      }
      if (body.method !== "tools/call") return false;
      const params = body.params as { arguments?: unknown };
      const problem = checkParamHeaders(
        bindings,
        params.arguments,
        req.headers as Record<string, string>,
      );
      if (problem === undefined) {
        reply(200, {
          jsonrpc: "2.0",
          id: body.id,
          result: { content: [], resultType: "complete" },
        });
      } else {
        reply(400, { jsonrpc: "2.0", id: body.id, error: { code: -32020, message: problem } });
      }
      return true;
    });
  }

  beforeEach(async () => {
    upstream = await startRecordingUpstream();
    gatewayWithDeploy();
  });
  afterEach(async () => {
    for (const started of bridges.splice(0)) started.kill();
    await upstream.close();
  });

  it.each(TRICKY_VALUES)(
    "mirrors a listed tool's arguments into headers the contract accepts (%j)",
    async (region) => {
      const client = bridge();
      client.send(statelessRequest(1, "tools/list"));
      await client.response(1);
      const args = { region, replicas: 3, target: { canary: false } };
      client.send(statelessRequest(2, "tools/call", { name: "deploy", arguments: args }));
      expect(await client.response(2)).toMatchObject({ id: 2, result: { resultType: "complete" } });
      const call = upstream.postWithId(2);
      expect(header(call, "mcp-param-region")).toBe(encodeHeaderValue(region));
      expect(header(call, "mcp-param-replicas")).toBe("3");
      expect(header(call, "mcp-param-canary")).toBe("false");
      // Listed once by the client, called once: no retry was needed.
      expect(upstream.requests.map((request) => request.body?.method)).toEqual([
        "tools/list",
        "tools/call",
      ]);
    },
  );

  it("sends no header for an absent or null argument", async () => {
    const client = bridge();
    client.send(statelessRequest(1, "tools/list"));
    await client.response(1);
    client.send(statelessRequest(2, "tools/call", { name: "deploy", arguments: { region: null } }));
    expect(await client.response(2)).toMatchObject({ result: { resultType: "complete" } });
    const call = upstream.postWithId(2);
    expect(Object.keys(call.headers).filter((name) => name.startsWith("mcp-param-"))).toEqual([]);
  });

  it("lists the tools itself and sends once more when a call of an unlisted tool is refused", async () => {
    const client = bridge();
    client.send(statelessRequest(5, "tools/call", { name: "deploy", arguments: { region: "eu" } }));
    expect(await client.response(5)).toMatchObject({ id: 5, result: { resultType: "complete" } });
    expect(upstream.requests.map((request) => request.body?.method)).toEqual([
      "tools/call",
      "tools/list",
      "tools/call",
    ]);
    expect(header(upstream.requests[2]!, "mcp-param-region")).toBe("eu");
    expect(header(upstream.requests[0]!, "mcp-param-region")).toBeUndefined();
    // Known from then on: the next call goes right with its headers.
    client.send(statelessRequest(6, "tools/call", { name: "deploy", arguments: { region: "us" } }));
    await client.response(6);
    expect(upstream.requests).toHaveLength(4);
  });

  it("hands the refusal to the client when the listing does not help", async () => {
    const client = bridge();
    client.send(statelessRequest(7, "tools/call", { name: "other", arguments: {} }));
    upstream.setHandler((body, _req, res) => {
      res.writeHead(body.method === "tools/call" ? 400 : 200, {
        "content-type": "application/json",
      });
      res.end(
        JSON.stringify(
          body.method === "tools/call"
            ? { jsonrpc: "2.0", id: body.id, error: { code: -32020, message: "mismatch" } }
            : { jsonrpc: "2.0", id: body.id, result: { tools: [] } },
        ),
      );
      return true;
    });
    expect(await client.response(7)).toEqual({
      jsonrpc: "2.0",
      id: 7,
      error: { code: -32020, message: "mismatch" },
    });
  });
});
