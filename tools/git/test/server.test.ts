import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  callToolSigned,
  connectSignedClient,
  postSigned,
  startTestToolServer,
  type TestToolServer,
} from "../../kit/src/testing.ts";
import { createGitToolDefinitions } from "../src/tool-definitions.ts";
import {
  buildFixtureRepository,
  openFixture,
  type FixtureContext,
  type FixtureRepository,
} from "./fixture-repository.ts";

const TOOL_NAMES = [
  "git_blame",
  "git_diff",
  "git_grep",
  "git_list_files",
  "git_list_repositories",
  "git_log",
  "git_read_file",
  "git_search_commits",
  "git_show_commit",
];

let fixture: FixtureRepository;
let context: FixtureContext;
let server: TestToolServer;
let client: Client;

beforeAll(async () => {
  fixture = buildFixtureRepository();
  context = await openFixture(fixture);
  server = await startTestToolServer(createGitToolDefinitions(context), { name: "git" });
  client = await connectSignedClient(server.mcpUrl, server.signing);
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  context?.close();
  fixture?.cleanup();
});

type CallResult = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: Array<{ type: string; text?: string }>;
};
const call = async (name: string, args: Record<string, unknown>): Promise<CallResult> =>
  (await client.callTool({ name, arguments: args })) as CallResult;

describe("git tool server over MCP", () => {
  it("lists every tool with schemas and read-only annotations", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOL_NAMES);
    for (const tool of tools) {
      expect(tool.annotations).toMatchObject({
        readOnlyHint: true,
        idempotentHint: true,
        openWorldHint: false,
        destructiveHint: false,
      });
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.outputSchema?.type).toBe("object");
      expect(tool.description).toBeTruthy();
    }
    const log = tools.find((t) => t.name === "git_log")!;
    expect(Object.keys(log.inputSchema.properties ?? {})).toEqual(
      expect.arrayContaining(["repository", "revision", "path", "pattern", "max_count", "cursor"]),
    );
    expect(log.inputSchema.required).toEqual(["repository"]);
  });

  it("answers each tool with structured content that matches the text block", async () => {
    const calls: Array<[string, Record<string, unknown>]> = [
      ["git_list_repositories", {}],
      ["git_log", { repository: "fixture", max_count: 2 }],
      ["git_show_commit", { repository: "fixture", revision: "v1" }],
      ["git_diff", { repository: "fixture", revision: "v1..main", format: "patch" }],
      ["git_grep", { repository: "fixture", pattern: "needle" }],
      ["git_blame", { repository: "fixture", path: "src/main.txt" }],
      ["git_list_files", { repository: "fixture" }],
      ["git_read_file", { repository: "fixture", path: "assets/logo.bin" }],
      ["git_search_commits", { repository: "fixture", pattern: "needle is here" }],
    ];
    for (const [name, args] of calls) {
      const result = await call(name, args);
      expect({ name, isError: result.isError ?? false }).toEqual({ name, isError: false });
      expect(JSON.parse(result.content[0]!.text!)).toEqual(result.structuredContent);
    }
    const grep = await call("git_grep", { repository: "fixture", pattern: "needle" });
    expect(grep.structuredContent?.matches).toEqual([
      { path: "src/main.txt", line: 3, column: 5, text: "the needle is here" },
    ]);
    const read = await call("git_read_file", { repository: "fixture", path: "assets/logo.bin" });
    expect(read.structuredContent).toMatchObject({ encoding: "base64", binary: true });
  });

  it("paginates git_log through the cursor", async () => {
    const first = await call("git_log", { repository: "fixture", max_count: 2 });
    const cursor = first.structuredContent?.next_cursor;
    expect(cursor).toBeTypeOf("string");
    const second = await call("git_log", { repository: "fixture", max_count: 2, cursor });
    expect((second.structuredContent?.commits as unknown[]).length).toBe(2);
    expect(second.structuredContent?.next_cursor).toBeUndefined();
  });

  it("returns tool errors as isError with a code and no server paths", async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ["git_log", { repository: "nope" }, "unknown_repository:"],
      ["git_log", { repository: "fixture", revision: "--output=/tmp/x" }, "invalid_revision:"],
      ["git_log", { repository: "fixture", revision: "missing-branch" }, "revision_not_found:"],
      ["git_read_file", { repository: "fixture", path: "../etc/passwd" }, "invalid_path:"],
      ["git_read_file", { repository: "fixture", path: "outside/secret.txt" }, "invalid_path:"],
      ["git_read_file", { repository: "fixture", path: "nope" }, "path_not_found:"],
      [
        "git_grep",
        { repository: "fixture", pattern: "(", fixed_strings: false },
        "invalid_argument:",
      ],
      ["git_log", { repository: "fixture", cursor: "garbage" }, "invalid_cursor:"],
    ];
    for (const [name, args, prefix] of cases) {
      const result = await call(name, args);
      expect(result.isError).toBe(true);
      const text = result.content[0]!.text!;
      expect(text.startsWith(prefix)).toBe(true);
      expect(text).not.toContain(fixture.root);
    }
  });

  it("rejects invalid arguments before running git", async () => {
    for (const args of [
      {},
      { repository: "fixture", max_count: 100_000 },
      { repository: "fixture", unexpected: true },
      { repository: 42 },
    ]) {
      const result = await call("git_log", args);
      expect(result.isError).toBe(true);
      expect(result.content[0]!.text).toContain("Invalid arguments for tool git_log");
    }
  });

  it("refuses calls without a valid X-Gateway-Auth signature", async () => {
    const forged = await callToolSigned(
      server.mcpUrl,
      { secret: "wrong-secret-wrong-secret-wrong-secret", audience: "git", userId: "mallory" },
      "git_list_repositories",
      {},
    ).then(
      () => "accepted",
      () => "refused",
    );
    expect(forged).toBe("refused");
    const unsigned = await postSigned(
      server.mcpUrl,
      { jsonrpc: "2.0", id: 1, method: "tools/list" },
      { ...server.signing, headers: { "x-gateway-auth": "v1.garbage" } },
    );
    expect(unsigned.status).toBe(401);
  });
});
