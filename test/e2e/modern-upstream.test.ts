import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { signDevToken } from "../../dev/token-cli.ts";
import type { EmbeddedStack } from "../../dev/embedded-stack.ts";
import { FIXTURE_SCOPE, type FixtureBackend } from "../conformance/fixture-backend.ts";
import { startFixtureStack, type FixtureStack } from "./fixture-stack.ts";
import { modernHeaders, modernRequest, readMessages } from "./stack-fixture.ts";

/**
 * A 2026-07-28 MCP server behind the gateway (`protocol_version: 2026-07-28`; the conformance
 * fixture answers that revision without sessions): tools listed and called, prompts relayed, the
 * server's own input rounds reaching a 2026-07-28 client unchanged (its keys, its requestState),
 * and mapped to a 2025-11-25 client's elicitation over its session.
 */

const ASKING_TOOL = "test_input_required_result_elicitation";

type Answer = {
  result: Record<string, unknown> & {
    resultType?: string;
    tools?: { name: string }[];
    content?: { type: string; text?: string }[];
    inputRequests?: Record<string, { method: string }>;
    requestState?: string;
  };
  error?: { code: number; message: string };
};

let running: FixtureStack;
let fixture: FixtureBackend;
let stack: EmbeddedStack;
let env: Record<string, string>;

beforeAll(async () => {
  running = await startFixtureStack({
    scope: (scope) => {
      scope.mcp_server.protocol_version = "2026-07-28";
    },
  });
  ({ fixture, stack, env } = running);
}, 120_000);

afterAll(async () => {
  await running?.close();
});

const token = (user: string) =>
  signDevToken({ user, roles: ["developer"], tenant: "acme", ttlSeconds: 600 }, env);

async function post(
  method: string,
  params: Record<string, unknown>,
  options: { name?: string; headers?: Record<string, string>; capabilities?: object } = {},
) {
  const body = modernRequest(method, params) as { params: { _meta: Record<string, unknown> } };
  if (options.capabilities !== undefined) {
    body.params._meta["io.modelcontextprotocol/clientCapabilities"] = options.capabilities;
  }
  const response = await fetch(`${stack.url}/${FIXTURE_SCOPE}/mcp`, {
    method: "POST",
    headers: {
      ...modernHeaders(method, options.name),
      ...options.headers,
      authorization: `Bearer ${await token("ada")}`,
    },
    body: JSON.stringify(body),
  });
  const messages = await readMessages(response);
  return { status: response.status, message: messages.at(-1) as Answer };
}

describe("a 2026-07-28 MCP server behind the gateway", () => {
  it("lists and calls its tools, headers mirrored, and relays its prompts", async () => {
    const listed = await post("tools/list", {});
    expect(listed.message.result.tools?.map((tool) => tool.name).sort()).toEqual(
      fixture.tools.map((tool) => tool.name).sort(),
    );
    const called = await post(
      "tools/call",
      { name: "test_header_param", arguments: { region: "eu-west-1" } },
      { name: "test_header_param", headers: { "mcp-param-region": "eu-west-1" } },
    );
    expect(called.status).toBe(200);
    expect(called.message.result.content).toEqual([{ type: "text", text: "region=eu-west-1" }]);
    const prompt = await post(
      "prompts/get",
      { name: "test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } },
      { name: "test_prompt_with_arguments" },
    );
    expect(prompt.status).toBe(200);
    expect(JSON.stringify(prompt.message.result.messages)).toContain("a");
  });

  it("relays the server's InputRequiredResult to a 2026-07-28 client with its own keys and state", async () => {
    const first = await post(
      "tools/call",
      { name: ASKING_TOOL, arguments: {} },
      { name: ASKING_TOOL, capabilities: { elicitation: {} } },
    );
    expect(first.message.result.resultType).toBe("input_required");
    expect(Object.keys(first.message.result.inputRequests ?? {})).toEqual(["user_name"]);
    expect(first.message.result.inputRequests?.user_name?.method).toBe("elicitation/create");
    // The first round of this tool keeps no state; a later one would carry the server's own.
    const requestState = first.message.result.requestState;

    const second = await post(
      "tools/call",
      {
        name: ASKING_TOOL,
        arguments: {},
        inputResponses: { user_name: { action: "accept", content: { name: "Grace" } } },
        ...(requestState === undefined ? {} : { requestState }),
      },
      { name: ASKING_TOOL, capabilities: { elicitation: {} } },
    );
    expect(second.message.result.resultType).toBe("complete");
    expect(second.message.result.content).toEqual([{ type: "text", text: "Hello, Grace!" }]);
  });

  it("asks a 2025-11-25 client over its session what the server's input round needs", async () => {
    const client = new Client(
      { name: "e2e-modern-upstream", version: "1.0.0" },
      { capabilities: { elicitation: {} } },
    );
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return { action: "accept", content: { name: "Grace" } };
    });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.url}/${FIXTURE_SCOPE}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${await token("grace")}` } },
      }),
    );
    try {
      const result = await client.callTool({ name: ASKING_TOOL, arguments: {} });
      expect(result.content).toEqual([{ type: "text", text: "Hello, Grace!" }]);
      expect(asked).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it("relays the server's refusal to a 2025-11-25 client that cannot be asked", async () => {
    const client = new Client({ name: "e2e-modern-upstream-plain", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${stack.url}/${FIXTURE_SCOPE}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${await token("hopper")}` } },
      }),
    );
    try {
      await expect(client.callTool({ name: ASKING_TOOL, arguments: {} })).rejects.toThrow(
        // The server saw no elicitation capability declared: its own -32021 comes back.
        /-32021: This request needs the client capabilities: elicitation/,
      );
    } finally {
      await client.close();
    }
  });
});
