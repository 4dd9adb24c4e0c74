import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listActiveTools, listRegistryHistory } from "../../store/src/registry.ts";
import { signDevToken } from "../../dev/token-cli.ts";
import type { EmbeddedStack } from "../../dev/embedded-stack.ts";
import { FIXTURE_SCOPE, type FixtureBackend } from "../conformance/fixture-backend.ts";
import { startFixtureStack, type FixtureStack } from "./fixture-stack.ts";
import { modernHeaders, modernRequest, readMessages } from "./stack-fixture.ts";

/**
 * A scope that says `tools: discover` in front of a standard MCP server (the conformance
 * fixture): every tool the server lists is offered, recorded in the registry as discovered, and
 * policy still decides who sees and calls which.
 */

const REFUSED = "test_error_handling";
const ONLY = "test_simple_text";

type Answer = {
  result: { tools: { name: string }[]; content: { type: string; text?: string }[] };
  error: { code: number; message: string };
};

let running: FixtureStack;
let fixture: FixtureBackend;
let stack: EmbeddedStack;
let env: Record<string, string>;

beforeAll(async () => {
  running = await startFixtureStack({
    scope: (scope) => {
      scope.tools = "discover";
    },
    roles: (roles) => {
      roles.discoverer = {
        allow: [`${FIXTURE_SCOPE}.*`],
        deny: [`${FIXTURE_SCOPE}.${REFUSED}`],
      };
      roles["one-tool"] = { allow: [`${FIXTURE_SCOPE}.${ONLY}`] };
    },
  });
  ({ fixture, stack, env } = running);
}, 120_000);

afterAll(async () => {
  await running?.close();
});

async function post(role: string, method: string, params: Record<string, unknown>, name?: string) {
  const token = await signDevToken(
    { user: `${role}-user`, roles: [role], tenant: "acme", ttlSeconds: 600 },
    env,
  );
  const response = await fetch(`${stack.url}/${FIXTURE_SCOPE}/mcp`, {
    method: "POST",
    headers: { ...modernHeaders(method, name), authorization: `Bearer ${token}` },
    body: JSON.stringify(modernRequest(method, params)),
  });
  const messages = await readMessages(response);
  return { status: response.status, message: messages.at(-1) as Answer };
}

const listed = async (role: string) =>
  (await post(role, "tools/list", {})).message.result.tools.map((tool) => tool.name).sort();

describe("tools: discover", () => {
  it("offers every tool the server lists, less what policy refuses", async () => {
    const all = fixture.tools.map((tool) => tool.name).sort();
    expect(all).toContain(REFUSED);
    expect(await listed("discoverer")).toEqual(all.filter((name) => name !== REFUSED));
    expect(await listed("one-tool")).toEqual([ONLY]);
  });

  it("calls a discovered tool, and refuses what policy refuses before the server sees it", async () => {
    const called = await post("one-tool", "tools/call", { name: ONLY, arguments: {} }, ONLY);
    expect(called.status).toBe(200);
    expect(called.message.result.content[0]).toMatchObject({ type: "text" });

    const refused = await post(
      "discoverer",
      "tools/call",
      { name: REFUSED, arguments: {} },
      REFUSED,
    );
    expect(refused.status).toBe(403);
    const other = await post(
      "one-tool",
      "tools/call",
      { name: "test_image_content" },
      "test_image_content",
    );
    expect(other.status).toBe(403);
  });

  it("answers a tool the server does not list as unknown, though policy allows the name", async () => {
    const unknown = await post(
      "discoverer",
      "tools/call",
      { name: "no_such_tool" },
      "no_such_tool",
    );
    expect(unknown.message.error).toMatchObject({ code: -32602 });
    expect(unknown.message.error.message).toMatch(/Unknown tool: no_such_tool/);
  });

  it("records the discovered tools in the registry", async () => {
    const rows = await listActiveTools(stack.database.db, FIXTURE_SCOPE);
    expect(rows.map((row) => row.name).sort()).toEqual(
      fixture.tools.map((tool) => tool.name).sort(),
    );
    expect(new Set(rows.map((row) => row.source))).toEqual(new Set(["discovered"]));
    const history = await listRegistryHistory(stack.database.db, { scope: FIXTURE_SCOPE });
    expect(new Set(history.map((row) => row.event))).toEqual(new Set(["discovered"]));
  });
});
