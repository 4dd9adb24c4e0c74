import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  Client as ModernClient,
  StreamableHTTPClientTransport as ModernHttp,
} from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PNG_1X1_BASE64, TEXT, WAV_SILENCE_BASE64 } from "./content.ts";
import { startConformanceFixture, type ConformanceFixture } from "./server.ts";

/**
 * The conformance fixture answers as the official conformance suite's server scenarios expect
 * (the full suite runs with test/conformance-fixture/run-direct.ts; this is the fast smoke test).
 */

const SERVER = fileURLToPath(new URL("./server.ts", import.meta.url));
const TSX = fileURLToPath(new URL("../../node_modules/.bin/tsx", import.meta.url));

/** Every tool name a server scenario of suite 0.1 or 0.2 calls. */
const SCENARIO_TOOLS = [
  "test_simple_text",
  "test_image_content",
  "test_audio_content",
  "test_embedded_resource",
  "test_multiple_content_types",
  "test_error_handling",
  "json_schema_2020_12_tool",
  "test_tool_with_logging",
  "test_tool_with_progress",
  "test_reconnection",
  "test_sampling",
  "test_elicitation",
  "test_elicitation_sep1034_defaults",
  "test_elicitation_sep1330_enums",
  "test_input_required_result_elicitation",
  "test_input_required_result_sampling",
  "test_input_required_result_list_roots",
  "test_input_required_result_request_state",
  "test_input_required_result_tampered_state",
  "test_input_required_result_multiple_inputs",
  "test_input_required_result_multi_round",
  "test_input_required_result_capabilities",
  "test_missing_capability",
  "test_streaming_elicitation",
  "test_logging_tool",
  "test_trigger_tool_change",
  "test_trigger_prompt_change",
  "greet",
  "slow_compute",
  "failing_job",
  "protocol_error_job",
  "confirm_delete",
  "multi_input",
  "test_tool_with_task",
];

let fixture: ConformanceFixture;

beforeAll(async () => {
  fixture = await startConformanceFixture({ port: 0 });
});
afterAll(async () => {
  await fixture?.close();
});

async function legacyClient(): Promise<Client> {
  const client = new Client(
    { name: "fixture-test", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(fixture.url)));
  return client;
}

describe("conformance fixture over 2025-11-25 (sessions)", () => {
  it("lists every scenario tool, test_simple_text first", async () => {
    const client = await legacyClient();
    try {
      expect(client.getServerVersion()?.name).toBe("mcp-gateway-conformance-fixture");
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names[0]).toBe("test_simple_text");
      expect(names).toEqual(expect.arrayContaining(SCENARIO_TOOLS));
      const header = (await client.listTools()).tools.find(
        (tool) => tool.name === "test_header_param",
      );
      expect(header?.inputSchema.properties?.region).toMatchObject({ "x-mcp-header": "Region" });
    } finally {
      await client.close();
    }
  });

  it("returns the fixed content the scenarios check", async () => {
    const client = await legacyClient();
    try {
      expect(await client.callTool({ name: "test_simple_text" })).toMatchObject({
        content: [{ type: "text", text: TEXT.simple }],
      });
      expect(await client.callTool({ name: "test_image_content", arguments: {} })).toMatchObject({
        content: [{ type: "image", data: PNG_1X1_BASE64, mimeType: "image/png" }],
      });
      expect(await client.callTool({ name: "test_audio_content", arguments: {} })).toMatchObject({
        content: [{ type: "audio", data: WAV_SILENCE_BASE64, mimeType: "audio/wav" }],
      });
      expect(await client.callTool({ name: "test_error_handling", arguments: {} })).toMatchObject({
        isError: true,
        content: [{ type: "text", text: TEXT.toolError }],
      });
      expect(await client.callTool({ name: "greet", arguments: { name: "Ada" } })).toMatchObject({
        content: [{ type: "text", text: "Hello, Ada!" }],
      });
    } finally {
      await client.close();
    }
  });

  it("reports progress, and asks the client to sample and elicit", async () => {
    const client = await legacyClient();
    client.setRequestHandler(CreateMessageRequestSchema, (request) => ({
      role: "assistant",
      content: {
        type: "text",
        text: `echo: ${JSON.stringify(request.params.messages[0]?.content)}`,
      },
      model: "test-model",
    }));
    client.setRequestHandler(ElicitRequestSchema, () => ({
      action: "accept",
      content: { username: "ada", email: "ada@example.com" },
    }));
    try {
      const progress: number[] = [];
      await client.callTool({ name: "test_tool_with_progress", arguments: {} }, undefined, {
        onprogress: (update) => progress.push(update.progress),
      });
      expect(progress).toEqual([0, 50, 100]);
      const sampled = await client.callTool({ name: "test_sampling", arguments: { prompt: "hi" } });
      expect(sampled.content).toEqual([
        { type: "text", text: expect.stringContaining("LLM response: echo:") },
      ]);
      const elicited = await client.callTool({
        name: "test_elicitation",
        arguments: { message: "who?" },
      });
      expect(elicited.content).toEqual([
        {
          type: "text",
          text: 'User response: action=accept, content={"username":"ada","email":"ada@example.com"}',
        },
      ]);
    } finally {
      await client.close();
    }
  });

  it("serves the scenario prompts and resources", async () => {
    const client = await legacyClient();
    try {
      const prompt = await client.getPrompt({
        name: "test_prompt_with_arguments",
        arguments: { arg1: "hello", arg2: "world" },
      });
      expect(prompt.messages).toEqual([
        {
          role: "user",
          content: { type: "text", text: "Prompt with arguments: arg1='hello', arg2='world'" },
        },
      ]);
      const text = await client.readResource({ uri: "test://static-text" });
      expect(text.contents).toEqual([
        { uri: "test://static-text", mimeType: "text/plain", text: TEXT.staticText },
      ]);
      const templated = await client.readResource({ uri: "test://template/123/data" });
      expect(JSON.parse((templated.contents[0] as { text: string }).text)).toEqual({
        id: "123",
        templateTest: true,
        data: "Data for ID: 123",
      });
      const completion = await client.complete({
        ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
        argument: { name: "arg1", value: "par" },
      });
      expect(completion.completion.values).toEqual(["paris", "park", "party"]);
    } finally {
      await client.close();
    }
  });

  it("refuses a foreign Host header (DNS rebinding)", async () => {
    const { request } = await import("undici");
    const response = await request(fixture.url, {
      method: "POST",
      headers: {
        host: "evil.example.com",
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    await response.body.dump();
    expect(response.statusCode).toBe(403);
  });
});

describe("conformance fixture over 2026-07-28 (stateless)", () => {
  async function modernClient(): Promise<ModernClient> {
    const client = new ModernClient(
      { name: "fixture-test", version: "2.0.0" },
      { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: { elicitation: {} } },
    );
    client.setRequestHandler("elicitation/create", () => ({
      action: "accept",
      content: { name: "Grace" },
    }));
    await client.connect(new ModernHttp(new URL(fixture.url)));
    return client;
  }

  it("lists the same tools and fulfils an InputRequiredResult round", async () => {
    const client = await modernClient();
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toEqual(expect.arrayContaining(SCENARIO_TOOLS));
      const greeting = await client.callTool({
        name: "test_input_required_result_elicitation",
        arguments: {},
      });
      expect(greeting.content).toEqual([{ type: "text", text: "Hello, Grace!" }]);
      const image = await client.getPrompt({ name: "test_prompt_with_image" });
      expect(image.messages[0]?.content).toEqual({
        type: "image",
        data: PNG_1X1_BASE64,
        mimeType: "image/png",
      });
    } finally {
      await client.close();
    }
  });
});

describe("conformance fixture over stdio", () => {
  it("serves the same server to a stdio client", async () => {
    const client = new Client({ name: "fixture-test", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({ command: TSX, args: [SERVER, "--stdio"], stderr: "pipe" }),
    );
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      expect(names).toEqual(expect.arrayContaining(SCENARIO_TOOLS));
      expect(await client.callTool({ name: "test_simple_text" })).toMatchObject({
        content: [{ type: "text", text: TEXT.simple }],
      });
    } finally {
      await client.close();
    }
  });

  it("prints its URL as one JSON line when started as an HTTP process", async () => {
    const child = spawn(TSX, [SERVER, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let buffered = "";
        child.stdout.on("data", (chunk: Buffer) => {
          buffered += chunk.toString("utf8");
          const end = buffered.indexOf("\n");
          if (end >= 0) resolve(buffered.slice(0, end));
        });
        child.once("exit", (code) => reject(new Error(`fixture exited with ${code}`)));
      });
      const { url } = JSON.parse(line) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const health = await fetch(new URL("/health", url));
      expect(health.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
