import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signDevToken } from "../../dev/token-cli.ts";
import type { EmbeddedStack } from "../../dev/embedded-stack.ts";
import { FIXTURE_SCOPE } from "../conformance/fixture-backend.ts";
import { startFixtureStack, type FixtureStack } from "./fixture-stack.ts";
import { modernHeaders, modernRequest, readMessages } from "./stack-fixture.ts";

/**
 * The skills extension (SEP-2640) of an MCP server behind the gateway: announced as the server
 * announces it, skills/list, skills/get and directory reads relayed, and policy deciding on the
 * skill's SKILL.md resource like on any resource.
 */

const SKILL = "skill://fixture-greeting/SKILL.md";
const GUIDE = "skill://fixture-greeting/references/GUIDE.md";
const SKILLS_EXTENSION = "io.modelcontextprotocol/skills";

/** What the tests read of an answer; the assertions check the rest. */
type Answer = {
  result: {
    capabilities: { extensions: Record<string, unknown> };
    skills: { uri: string }[];
  } & Record<string, unknown>;
  error: { code: number };
};

let running: FixtureStack;
let stack: EmbeddedStack;
let env: Record<string, string>;

beforeAll(async () => {
  running = await startFixtureStack({
    roles: (roles) => {
      // The skill itself, not its other files.
      roles["skill-reader"] = { allow: [`${FIXTURE_SCOPE}.resource:${SKILL}`] };
      // Something of the scope, but no skill.
      roles["prompt-reader"] = { allow: [`${FIXTURE_SCOPE}.prompt:*`] };
    },
  });
  ({ stack, env } = running);
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

describe("the skills extension behind the gateway", () => {
  it("announces the server's skills extension beside the gateway's own tasks extension", async () => {
    const discovered = await post("developer", "server/discover", {});
    const extensions = discovered.message.result.capabilities.extensions;
    expect(Object.keys(extensions).sort()).toEqual([
      "io.modelcontextprotocol/skills",
      "io.modelcontextprotocol/tasks",
    ]);
    expect(extensions[SKILLS_EXTENSION]).toMatchObject({ directoryRead: true });
  });

  it("lists and gets skills, caching hints per user", async () => {
    const listed = await post("developer", "skills/list", {});
    expect(listed.status).toBe(200);
    expect(listed.message.result).toMatchObject({
      cacheScope: "private",
      ttlMs: expect.any(Number),
    });
    expect(listed.message.result.skills.map((skill) => skill.uri)).toEqual([SKILL]);
    const got = await post("developer", "skills/get", { uri: SKILL }, SKILL);
    expect(got.status).toBe(200);
    expect(got.message.result).toMatchObject({ skill: { uri: SKILL } });
  });

  it("decides a skill like its SKILL.md resource: listed, got and read only where policy allows", async () => {
    const listed = await post("skill-reader", "skills/list", {});
    expect(listed.message.result.skills).toHaveLength(1);
    expect((await post("skill-reader", "skills/get", { uri: SKILL }, SKILL)).status).toBe(200);
    expect((await post("skill-reader", "resources/read", { uri: SKILL }, SKILL)).status).toBe(200);
    const guide = await post("skill-reader", "resources/read", { uri: GUIDE }, GUIDE);
    expect(guide.status).toBe(403);

    const none = await post("prompt-reader", "skills/list", {});
    expect(none.status).toBe(200);
    expect(none.message.result.skills).toEqual([]);
    const refused = await post("prompt-reader", "skills/get", { uri: SKILL }, SKILL);
    expect(refused.status).toBe(403);
  });

  it("refuses skills/get that names no skill, before it reaches the server", async () => {
    const bad = await post("developer", "skills/get", {});
    expect(bad.status).toBe(400);
    expect(bad.message.error.code).toBe(-32600);
  });
});
