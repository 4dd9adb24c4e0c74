import { randomBytes, randomUUID } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createLogger } from "../../../contract/src/log.ts";
import { signGatewayAuth } from "../../../contract/src/gateway-auth.ts";
import { HEADER } from "../../../contract/src/headers.ts";
import { runTool } from "./mcp-endpoint.ts";
import { compileTools, type ToolDefinition } from "./tool-definition.ts";
import { createToolServer, type ToolServer, type ToolServerAuth } from "./tool-server.ts";
import type { ToolWorkerPool, WorkerPoolSettings } from "./worker-pool.ts";

/** Test support for tool servers: sign like the router does, talk through the real SDK client. */

export interface SigningOptions {
  secret: string;
  /** The tool server's name (its scope). */
  audience: string;
  userId: string;
  /** Defaults to a fresh UUID per request. */
  requestId?: () => string;
  /** Clock in ms for the signature; defaults to Date.now. */
  now?: () => number;
}

export function signedHeaders(options: {
  secret: string;
  audience: string;
  userId: string;
  requestId: string;
  body: string | Uint8Array;
  now?: number;
}): Record<string, string> {
  return {
    [HEADER.userId]: options.userId,
    [HEADER.requestId]: options.requestId,
    [HEADER.gatewayAuth]: signGatewayAuth(options),
  };
}

/** A fetch that adds X-Gateway-Auth, X-User-ID and x-request-id to every request it sends. */
export function gatewaySignedFetch(options: SigningOptions): FetchLike {
  return async (url, init = {}) => {
    const body = typeof init.body === "string" ? init.body : "";
    const headers = new Headers(init.headers);
    const signed = signedHeaders({
      secret: options.secret,
      audience: options.audience,
      userId: options.userId,
      requestId: options.requestId?.() ?? randomUUID(),
      body,
      now: options.now?.(),
    });
    for (const [name, value] of Object.entries(signed)) headers.set(name, value);
    return fetch(url, { ...init, headers });
  };
}

/** An SDK 1.x client connected (initialize done) to `mcpUrl` with router-style signing. */
export async function connectSignedClient(
  mcpUrl: string | URL,
  signing: SigningOptions,
): Promise<Client> {
  const client = new Client({ name: "tool-kit-test", version: "0.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    fetch: gatewaySignedFetch(signing),
  });
  await client.connect(transport);
  return client;
}

/** Connects, calls one tool, disconnects. */
export async function callToolSigned(
  mcpUrl: string | URL,
  signing: SigningOptions,
  name: string,
  args: Record<string, unknown>,
): Promise<CallToolResult> {
  const client = await connectSignedClient(mcpUrl, signing);
  try {
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  } finally {
    await client.close();
  }
}

/** POSTs one raw JSON-RPC message with a valid signature (or with `headers` overriding it). */
export async function postSigned(
  mcpUrl: string | URL,
  message: unknown,
  signing: SigningOptions & { headers?: Record<string, string> },
): Promise<Response> {
  const body = typeof message === "string" ? message : JSON.stringify(message);
  const signed = signedHeaders({
    secret: signing.secret,
    audience: signing.audience,
    userId: signing.userId,
    requestId: signing.requestId?.() ?? randomUUID(),
    body,
    now: signing.now?.(),
  });
  return fetch(mcpUrl, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...signed,
      ...signing.headers,
    },
    body,
  });
}

export interface TestToolServer {
  server: ToolServer;
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  /** `${url}/mcp` */
  mcpUrl: string;
  secret: string;
  /** The audience the server accepts (its name). */
  audience: string;
  /** Signing options for user `test-user`, ready for the helpers above. */
  signing: SigningOptions;
  close(): Promise<void>;
}

/** Starts a tool server on 127.0.0.1:0 with a random secret and a silent logger. */
export async function startTestToolServer(
  tools: readonly ToolDefinition[],
  options: {
    name?: string;
    maxRequestBytes?: number;
    staticSecret?: string;
    workers?: WorkerPoolSettings;
    /** Passed through to `ToolServerAuth`. */
    auth?: Pick<ToolServerAuth, "futureSkewSeconds" | "replayCacheEntries" | "windowSeconds">;
    now?: () => number;
  } = {},
): Promise<TestToolServer> {
  const secret = randomBytes(32).toString("hex");
  const name = options.name ?? "test-tools";
  const server = createToolServer({
    name,
    version: "0.0.0",
    tools,
    auth: {
      secret,
      ...options.auth,
      ...(options.staticSecret === undefined ? {} : { staticSecret: options.staticSecret }),
    },
    maxRequestBytes: options.maxRequestBytes,
    workers: options.workers,
    logger: createLogger({ name, level: "silent" }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const { url } = await server.listen(0, "127.0.0.1");
  return {
    server,
    url,
    mcpUrl: `${url}/mcp`,
    secret,
    audience: name,
    signing: { secret, audience: name, userId: "test-user" },
    close: () => server.close({ graceMs: 1_000 }),
  };
}

/**
 * Runs one tool through the kit's own validation and result shaping (no HTTP): inline, or on
 * `workers` when the tool declares a worker and a pool is given.
 */
export async function callToolInProcess(
  tool: ToolDefinition,
  args: unknown,
  identity: {
    userId?: string;
    requestId?: string;
    signal?: AbortSignal;
    workers?: ToolWorkerPool;
  } = {},
): Promise<CallToolResult> {
  const compiled = compileTools([tool]).get(tool.name);
  if (compiled === undefined) throw new Error(`tool ${tool.name} did not compile`);
  return runTool(
    compiled,
    args,
    {
      userId: identity.userId ?? "test-user",
      requestId: identity.requestId ?? randomUUID(),
      logger: createLogger({ name: "tool-test", level: "silent" }),
      signal: identity.signal ?? new AbortController().signal,
    },
    identity.workers,
  );
}

/** The structured output of a successful call; throws with the message when the call failed. */
export async function toolResultOf(
  tool: ToolDefinition,
  args: unknown,
): Promise<Record<string, unknown>> {
  const result = await callToolInProcess(tool, args);
  if (result.isError === true) throw new Error(`expected success, got: ${firstText(result)}`);
  return result.structuredContent as Record<string, unknown>;
}

/** The isError message of a failing call; throws when the call succeeded. */
export async function toolErrorOf(tool: ToolDefinition, args: unknown): Promise<string> {
  const result = await callToolInProcess(tool, args);
  if (result.isError !== true)
    throw new Error(`expected an error, got ${JSON.stringify(result.structuredContent)}`);
  return firstText(result);
}

function firstText(result: CallToolResult): string {
  const first = result.content[0];
  return first?.type === "text" ? first.text : "";
}
