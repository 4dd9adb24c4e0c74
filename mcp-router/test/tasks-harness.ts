import { expect } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { parseConfigText, type GatewayConfig } from "../../config/src/load-config.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
const PROTOCOL_VERSION_META_KEY = META_KEY.protocolVersion;
import {
  ALICE,
  postMcp,
  readMessages,
  sessionHeaders,
  verdictFor,
  type Identity,
} from "./router-harness.ts";

/** Fixtures shared by the task tests: a config with per-tool task support, raw wire helpers. */

export const MODERN = "2026-07-28";
export const TASKS_EXTENSION = "io.modelcontextprotocol/tasks";

export function tasksConfig(
  backendUrl: string,
  options: { maxTtlMs?: number; maxRunMs?: number } = {},
): GatewayConfig {
  const toolsYaml = `
version: 1
tasks: { default_ttl_ms: 60000, max_ttl_ms: ${options.maxTtlMs ?? 120000}, max_result_bytes: 20000, poll_interval_ms: 100, max_run_ms: ${options.maxRunMs ?? 600000} }
scopes:
  calc:
    backend_url: ${backendUrl}
    timeout_ms: 300
    max_response_bytes: 100000
    tools:
      - { name: add }
      - { name: fail, task_support: optional }
      - { name: slow, task_support: optional }
      - { name: big, task_support: required }
      - { name: progress }
`;
  const policyYaml = `
version: 1
roles:
  developer: { allow: ["calc.*"] }
quotas:
  per_user: { default: { points: 100000, duration: 1m } }
  per_tool: { default: { points: 100000, duration: 1m } }
  per_user_tool: { default: { points: 100000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["http://localhost:8010"]
`;
  const result = parseConfigText({ toolsYaml, policyYaml, env: {} });
  if (!result.ok) throw new Error(result.errors.join("\n"));
  return result.config;
}

/** Same tools as ALICE, another user. */
export const MALLORY: Identity = { ...ALICE, subject: "mallory" };
/** ALICE's subject in another tenant: a different owner. */
export const ALICE_ELSEWHERE: Identity = { ...ALICE, tenant: "globex" };

export type RpcMessage = Record<string, unknown> & {
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: Record<string, unknown> };
};

let nextId = 100;

/** One 2025-11-25 request inside a session; returns every message of the answer (JSON or SSE). */
export async function legacyRpc(
  endpoint: string,
  sessionId: string,
  method: string,
  params: Record<string, unknown> = {},
  identity: Identity = ALICE,
): Promise<RpcMessage[]> {
  const response = await postMcp(
    endpoint,
    { jsonrpc: "2.0", id: nextId++, method, params },
    { identity, headers: sessionHeaders(sessionId) },
  );
  return await readMessages(response);
}

/** The final response of a legacy request. */
export async function legacyCall(
  endpoint: string,
  sessionId: string,
  method: string,
  params: Record<string, unknown> = {},
  identity: Identity = ALICE,
): Promise<RpcMessage> {
  const messages = await legacyRpc(endpoint, sessionId, method, params, identity);
  const last = messages.at(-1);
  if (last === undefined) throw new Error(`no answer to ${method}`);
  return last;
}

/** One 2026-07-28 request with matching routing headers. */
export async function modernCall(
  endpoint: string,
  method: string,
  params: Record<string, unknown> = {},
  options: { identity?: Identity; tasks?: boolean; name?: string } = {},
): Promise<{ status: number; message: RpcMessage }> {
  const body = {
    jsonrpc: "2.0",
    id: nextId++,
    method,
    params: {
      ...params,
      _meta: {
        [PROTOCOL_VERSION_META_KEY]: MODERN,
        "io.modelcontextprotocol/clientCapabilities":
          (options.tasks ?? method.startsWith("tasks/"))
            ? { extensions: { [TASKS_EXTENSION]: {} } }
            : {},
        "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      },
    },
  };
  const name =
    options.name ??
    (typeof params.name === "string"
      ? params.name
      : typeof params.taskId === "string"
        ? params.taskId
        : undefined);
  const response = await postMcp(endpoint, body, {
    identity: options.identity ?? ALICE,
    headers: {
      [HEADER.mcpProtocolVersion]: MODERN,
      [HEADER.mcpMethod]: method,
      ...(name === undefined ? {} : { [HEADER.mcpName]: name }),
    },
  });
  const [message] = (await readMessages(response)) as RpcMessage[];
  if (message === undefined) throw new Error(`no answer to ${method}`);
  return { status: response.status, message };
}

/** REST call with a verdict over the exact body (GET/DELETE: the empty body). */
export async function rest(
  url: string,
  method: "GET" | "POST" | "DELETE",
  options: { body?: unknown; identity?: Identity; scope?: string } = {},
): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const text = options.body === undefined ? "" : JSON.stringify(options.body);
  const identity = options.identity ?? ALICE;
  const scope = options.scope ?? "calc";
  const response = await fetch(url, {
    method,
    headers: {
      ...(text === "" ? {} : { "content-type": "application/json" }),
      [HEADER.verdict]: verdictFor(identity, scope, text),
    },
    ...(text === "" ? {} : { body: text }),
  });
  const raw = await response.text();
  return {
    status: response.status,
    body: raw === "" ? {} : (JSON.parse(raw) as Record<string, unknown>),
    headers: response.headers,
  };
}

/** Polls a condition with a bounded deadline (for state only visible by polling, e.g. the database). */
export async function eventually<T>(
  check: () => Promise<T | undefined>,
  what: string,
  deadlineMs = 10_000,
): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export function expectTaskShape(task: unknown): asserts task is Record<string, unknown> {
  expect(task).toMatchObject({
    taskId: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
    status: expect.any(String),
    createdAt: expect.any(String),
    lastUpdatedAt: expect.any(String),
  });
}
