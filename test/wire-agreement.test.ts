import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../contract/src/headers.ts";
import { RPC_CODE } from "../contract/src/json-rpc.ts";
import {
  encodeHeaderValue,
  MCP_NAME_SOURCE,
  META_KEY,
  type Era,
  type RoutingHeaders,
} from "../contract/src/mcp-wire.ts";
import { parseRpcBody } from "../ext-authz/src/policy/rpc-body.ts";
import {
  ALICE,
  postMcp,
  startRouterFixture,
  type RouterFixture,
} from "../mcp-router/test/router-harness.ts";

/**
 * ext-authz decides on the body and the router serves it: for every method, in both eras, and
 * for every shape of routing headers, both must refuse exactly the same requests as header
 * mismatches. A request only one side accepts is either unusable (the 2026 tasks bug this test
 * was written for) or served without the check the other side meant to apply.
 */

const METHODS = [
  "initialize",
  "ping",
  "server/discover",
  "tools/list",
  "tools/call",
  "prompts/list",
  "prompts/get",
  "resources/list",
  "resources/read",
  "resources/subscribe",
  "completion/complete",
  "logging/setLevel",
  "tasks/get",
  "tasks/update",
  "tasks/cancel",
  "tasks/result",
  "tasks/list",
  "no/such-method",
] as const;
const NOTIFICATIONS = ["notifications/initialized", "notifications/cancelled"] as const;

const BODY_VALUES: Record<string, string> = { name: "add", uri: "file:///a b.txt", taskId: "t-1" };

function paramsFor(method: string, era: Era): Record<string, unknown> {
  const source = Object.hasOwn(MCP_NAME_SOURCE, method) ? MCP_NAME_SOURCE[method] : undefined;
  return {
    ...(source === undefined ? {} : { [source]: BODY_VALUES[source] }),
    ...(method === "tools/call" ? { arguments: { a: 1, b: 2 } } : {}),
    // Methods naming a prompt or resource without Mcp-Name: valid params, so only the headers
    // can make a side refuse.
    ...(method === "resources/subscribe" ? { uri: BODY_VALUES.uri } : {}),
    ...(method === "completion/complete"
      ? { ref: { type: "ref/prompt", name: "add" }, argument: { name: "a", value: "" } }
      : {}),
    ...(method === "notifications/cancelled" ? { requestId: 7 } : {}),
    ...(era === "stateless"
      ? {
          _meta: {
            [META_KEY.protocolVersion]: "2026-07-28",
            [META_KEY.clientCapabilities]: {},
          },
        }
      : {}),
  };
}

type Variant = { label: string; headers: Partial<RoutingHeaders> };

function variants(method: string, era: Era): Variant[] {
  const source = Object.hasOwn(MCP_NAME_SOURCE, method) ? MCP_NAME_SOURCE[method] : undefined;
  const value = source === undefined ? "x" : BODY_VALUES[source]!;
  const version = era === "stateless" ? "2026-07-28" : "2025-11-25";
  return [
    { label: "no routing headers", headers: {} },
    { label: "version only", headers: { protocolVersion: version } },
    { label: "version and method", headers: { protocolVersion: version, method } },
    {
      label: "all mirrored",
      headers: { protocolVersion: version, method, name: encodeHeaderValue(value) },
    },
    {
      label: "name always base64",
      headers: {
        protocolVersion: version,
        method,
        name: `=?base64?${Buffer.from(value).toString("base64")}?=`,
      },
    },
    { label: "method and name, no version", headers: { method, name: value } },
    { label: "another method", headers: { protocolVersion: version, method: "tools/list" } },
    { label: "another name", headers: { protocolVersion: version, method, name: "other" } },
    {
      label: "a broken base64 name",
      headers: { protocolVersion: version, method, name: "=?base64?@@?=" },
    },
    {
      label: "another version",
      headers: { protocolVersion: era === "stateless" ? "2026-01-01" : "2025-06-18", method },
    },
  ];
}

function httpHeaders(headers: Partial<RoutingHeaders>): Record<string, string> {
  return {
    ...(headers.protocolVersion === undefined
      ? {}
      : { [HEADER.mcpProtocolVersion]: headers.protocolVersion }),
    ...(headers.method === undefined ? {} : { [HEADER.mcpMethod]: headers.method }),
    ...(headers.name === undefined ? {} : { [HEADER.mcpName]: headers.name }),
  };
}

let fixture: RouterFixture;
beforeAll(async () => {
  fixture = await startRouterFixture();
});
afterAll(async () => {
  await fixture.close();
});

async function routerRefusesHeaders(
  body: string,
  headers: Record<string, string>,
): Promise<boolean> {
  const response = await postMcp(`${fixture.router.url}/calc/mcp`, undefined, {
    rawBody: body,
    identity: { ...ALICE, tools: ["add"] },
    headers,
  });
  const text = await response.text();
  if (response.status !== 400) return false;
  const parsed = JSON.parse(text) as { error?: { code?: number } };
  return parsed.error?.code === RPC_CODE.headerMismatch;
}

describe("ext-authz and the router agree on the routing-header rules", () => {
  for (const era of ["session", "stateless"] as const) {
    it(`for every method and header shape in the ${era} era`, async () => {
      const disagreements: string[] = [];
      let refused = 0;
      for (const method of [...METHODS, ...NOTIFICATIONS]) {
        const isNotification = method.startsWith("notifications/");
        const message = {
          jsonrpc: "2.0",
          ...(isNotification ? {} : { id: 1 }),
          method,
          params: paramsFor(method, era),
        };
        const body = JSON.stringify(message);
        for (const variant of variants(method, era)) {
          const routing: RoutingHeaders = {
            protocolVersion: variant.headers.protocolVersion,
            method: variant.headers.method,
            name: variant.headers.name,
          };
          const authz = parseRpcBody(body, routing, 64);
          const authzRefuses = !authz.ok && authz.reason === "header_mismatch";
          const routerRefuses = await routerRefusesHeaders(body, httpHeaders(variant.headers));
          if (authzRefuses) refused += 1;
          if (authzRefuses !== routerRefuses) {
            disagreements.push(
              `${method} with ${variant.label}: ext-authz ${authzRefuses ? "refuses" : "accepts"}, router ${routerRefuses ? "refuses" : "accepts"}`,
            );
          }
        }
      }
      expect(disagreements).toEqual([]);
      // The table must exercise refusals, or agreement would prove nothing.
      expect(refused).toBeGreaterThan(20);
    });
  }
});
