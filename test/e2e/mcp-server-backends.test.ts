import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { parse, stringify } from "yaml";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { signDevToken } from "../../dev/token-cli.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import {
  closedPort,
  connectLegacy,
  modernHeaders,
  modernRequest,
  quietLogger,
  readMessages,
  type LegacyConnection,
  embeddedTestEnv,
} from "./stack-fixture.ts";

/**
 * A third-party MCP server behind the gateway: @modelcontextprotocol/server-everything (npm), once
 * as a stdio command the router spawns (a process per user) and once over Streamable HTTP, both
 * driven by the official 1.x SDK client through the gateway's scoped endpoints.
 */

const EVERYTHING = join(
  createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/package.json"),
  "../dist/index.js",
);
const REPO_CONFIG_DIR = fileURLToPath(new URL("../../config/", import.meta.url));
const LISTED = [
  "echo",
  "get-sum",
  "get-env",
  "trigger-long-running-operation",
  // Offered by the server only to clients that can answer sampling / elicitation requests.
  "trigger-sampling-request",
  "trigger-elicitation-request",
  "toggle-subscriber-updates",
];
const BACKEND_SECRET = "backend-token-only-the-backend-sees";

let configDir: string;
let httpServer: ChildProcess;
let stack: EmbeddedStack;
let env: Record<string, string>;

async function startEverythingHttp(): Promise<{ process: ChildProcess; port: number }> {
  const port = await closedPort();
  const child = spawn(process.execPath, [EVERYTHING, "streamableHttp"], {
    env: { PATH: process.env.PATH ?? "", PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  await new Promise<void>((resolve, reject) => {
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.includes("listening on port")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`server-everything exited ${code}: ${stderr}`)));
  });
  return { process: child, port };
}

beforeAll(async () => {
  const everythingHttp = await startEverythingHttp();
  httpServer = everythingHttp.process;
  configDir = await mkdtemp(join(tmpdir(), "mcp-gateway-backends-"));
  const tools = parse(await readFile(join(REPO_CONFIG_DIR, "tools.yaml"), "utf8")) as {
    scopes: Record<string, unknown>;
  };
  const listed = LISTED.map((name) => ({ name }));
  tools.scopes.everything = {
    description: "server-everything over stdio",
    mcp_server: {
      transport: "stdio",
      command: process.execPath,
      args: [EVERYTHING, "stdio"],
      env: { GREETING: "hello from the config", API_TOKEN: { from_env: "E2E_BACKEND_TOKEN" } },
      processes: { per: "user", max: 4 },
    },
    timeout_ms: 20_000,
    tools: listed,
  };
  tools.scopes["everything-http"] = {
    description: "server-everything over Streamable HTTP",
    mcp_server: {
      transport: "streamable-http",
      url: `http://127.0.0.1:${everythingHttp.port}/mcp`,
      headers: { "X-Api-Key": { from_env: "E2E_BACKEND_TOKEN" } },
    },
    timeout_ms: 20_000,
    tools: listed,
  };
  tools.scopes["everything-broken"] = {
    description: "a credential the router's environment lacks",
    mcp_server: {
      transport: "stdio",
      command: process.execPath,
      args: [EVERYTHING, "stdio"],
      env: { API_TOKEN: { from_env: "E2E_MISSING_TOKEN" } },
    },
    timeout_ms: 5_000,
    tools: listed,
  };
  const policy = parse(await readFile(join(REPO_CONFIG_DIR, "policy.yaml"), "utf8")) as {
    roles: Record<string, { allow: unknown[]; deny?: unknown[] }>;
  };
  policy.roles.developer!.allow.push("everything.*", "everything-http.*", "everything-broken.*");
  // Prompts and resources named one by one: no tool of the scope.
  policy.roles.curator = {
    allow: [
      "everything.prompt:simple-*",
      "everything.resource:demo://resource/static/*",
      "everything-http.resource:demo://resource/static/*",
    ],
    deny: [
      "everything.resource:demo://resource/static/document/architecture.md",
      "everything-http.resource:demo://resource/static/document/architecture.md",
    ],
  };
  await writeFile(join(configDir, "tools.yaml"), stringify(tools));
  await writeFile(join(configDir, "policy.yaml"), stringify(policy));
  env = embeddedTestEnv(configDir, { E2E_BACKEND_TOKEN: BACKEND_SECRET });
  stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger: quietLogger });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  httpServer?.kill();
  if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
});

const token = (user: string, roles = ["developer"]) =>
  signDevToken({ user, roles, tenant: "acme", ttlSeconds: 600 }, env);

async function connect(scope: string, user = "alice"): Promise<LegacyConnection> {
  return connectLegacy(`${stack.url}/${scope}/mcp`, await token(user));
}

function text(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((part) => part.text ?? "").join("\n");
}

describe.each(["everything", "everything-http"])("server-everything as %s", (scope) => {
  it("lists only the tools tools.yaml names, and calls them", async () => {
    const connection = await connect(scope);
    try {
      const { tools } = await connection.client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual([...LISTED].sort());
      expect(
        text(await connection.client.callTool({ name: "echo", arguments: { message: "hi" } })),
      ).toBe("Echo: hi");
      const sum = await connection.client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } });
      expect(text(sum)).toContain("5");
      // Listed by the server, not in tools.yaml: unknown to the gateway.
      const hidden = await connection.client
        .callTool({ name: "get-tiny-image", arguments: {} })
        .catch((error: unknown) => error);
      expect(String(hidden)).toMatch(/not|denied|unknown/i);

      const requestId = connection.lastRequestId("tools/call");
      await stack.audit.flush();
      const rows = await stack.database.db
        .selectFrom("audit_events")
        .selectAll()
        .where("scope", "=", scope)
        .where("tool", "=", "get-sum")
        .where("source", "=", "router")
        .execute();
      expect(rows.map((row) => row.outcome)).toContain("ok");
      expect(requestId).toMatch(/\S/);
    } finally {
      await connection.close();
    }
  });

  it("relays the server's progress notifications with the client's own token", async () => {
    const connection = await connect(scope);
    try {
      const progress: { progress: number; total?: number }[] = [];
      const result = await connection.client.callTool(
        { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
        undefined,
        { onprogress: (update) => progress.push(update), timeout: 15_000 },
      );
      expect(text(result)).toContain("Long running operation completed");
      expect(progress.map((p) => p.progress)).toEqual([1, 2, 3]);
      expect(progress.every((p) => p.total === 3)).toBe(true);
    } finally {
      await connection.close();
    }
  });
});

describe.each(["everything", "everything-http"])(
  "server-everything's prompts and resources as %s",
  (scope) => {
    it("announces what the server has, and relays prompts, resources, completion and log level", async () => {
      const connection = await connect(scope);
      try {
        const capabilities = connection.client.getServerCapabilities();
        expect(capabilities).toMatchObject({
          tools: {},
          // As the server announced them: list changes and resource updates reach the client on
          // its session's GET stream.
          prompts: { listChanged: true },
          resources: { subscribe: true, listChanged: true },
          completions: {},
          logging: {},
        });
        const { prompts } = await connection.client.listPrompts();
        expect(prompts.map((prompt) => prompt.name)).toEqual(
          expect.arrayContaining(["simple-prompt", "args-prompt", "completable-prompt"]),
        );
        const prompt = await connection.client.getPrompt({ name: "simple-prompt" });
        expect(prompt.messages[0]?.content).toMatchObject({
          type: "text",
          text: "This is a simple prompt without arguments.",
        });
        const { resources } = await connection.client.listResources();
        const staticDocument = resources.find((r) =>
          r.uri.startsWith("demo://resource/static/document/"),
        );
        expect(staticDocument).toBeDefined();
        const read = await connection.client.readResource({ uri: staticDocument!.uri });
        expect(read.contents[0]?.uri).toBe(staticDocument!.uri);
        const dynamic = await connection.client.readResource({
          uri: "demo://resource/dynamic/text/1",
        });
        expect(JSON.stringify(dynamic.contents)).toContain("Resource 1");
        const { resourceTemplates } = await connection.client.listResourceTemplates();
        expect(resourceTemplates.map((t) => t.uriTemplate)).toContain(
          "demo://resource/dynamic/text/{resourceId}",
        );
        const completion = await connection.client.complete({
          ref: { type: "ref/prompt", name: "completable-prompt" },
          argument: { name: "department", value: "E" },
        });
        expect(completion.completion.values).toEqual(["Engineering"]);
        expect(await connection.client.setLoggingLevel("debug")).toEqual({});
        // A resource the server does not have: its own error, relayed.
        const missing = await connection.client
          .readResource({ uri: "demo://resource/nothing-here" })
          .catch((error: unknown) => error);
        expect(String(missing)).toMatch(/not found/i);

        await stack.audit.flush();
        const rows = await stack.database.db
          .selectFrom("audit_events")
          .select(["method", "tool", "outcome", "kind"])
          .where("scope", "=", scope)
          .where("source", "=", "router")
          .where("method", "in", ["prompts/get", "resources/read", "prompts/list"])
          .execute();
        expect(rows).toEqual(
          expect.arrayContaining([
            {
              method: "prompts/get",
              tool: "prompt:simple-prompt",
              outcome: "ok",
              kind: "invocation",
            },
            { method: "prompts/list", tool: null, outcome: "ok", kind: "list" },
            {
              method: "resources/read",
              tool: "resource:demo://resource/dynamic/text/1",
              outcome: "ok",
              kind: "invocation",
            },
          ]),
        );
      } finally {
        await connection.close();
      }
    });
  },
);

describe.each(["everything", "everything-http"])("server requests to the client as %s", (scope) => {
  it("relays the server's sampling and elicitation requests to the client and its answers back", async () => {
    const client = new Client(
      { name: "e2e-sampling", version: "1.0.0" },
      { capabilities: { sampling: {}, elicitation: {} } },
    );
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      asked.push(`sampling: ${JSON.stringify(request.params.messages[0]?.content)}`);
      return {
        model: "e2e-model",
        role: "assistant",
        content: { type: "text", text: "sampled through the gateway" },
      };
    });
    client.setRequestHandler(ElicitRequestSchema, () => {
      asked.push("elicitation");
      return { action: "accept", content: { name: "Ada", check: true } };
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.url}/${scope}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${await token("alice")}` } },
    });
    await client.connect(transport);
    try {
      const sampled = await client.callTool({
        name: "trigger-sampling-request",
        arguments: { prompt: "hello", maxTokens: 20 },
      });
      expect(text(sampled)).toContain("sampled through the gateway");
      expect(text(sampled)).toContain("e2e-model");
      expect(asked[0]).toContain("hello");
      const elicited = await client.callTool({
        name: "trigger-elicitation-request",
        arguments: {},
      });
      expect(text(elicited)).toContain("User provided the requested information");
      expect(text(elicited)).toContain("Ada");
      expect(asked).toHaveLength(2);
    } finally {
      await client.close();
    }
  });

  it("asks a 2026-07-28 client with InputRequiredResult, and continues the call with its answers", async () => {
    const call = async (params: Record<string, unknown>, capabilities: Record<string, unknown>) => {
      const body = modernRequest("tools/call", params);
      const meta = (body.params as { _meta: Record<string, unknown> })._meta;
      meta["io.modelcontextprotocol/clientCapabilities"] = capabilities;
      const response = await fetch(`${stack.url}/${scope}/mcp`, {
        method: "POST",
        headers: {
          ...modernHeaders("tools/call", String(params.name)),
          authorization: `Bearer ${await token("ivy")}`,
        },
        body: JSON.stringify(body),
      });
      const messages = await readMessages(response);
      return { status: response.status, message: messages.at(-1) as Record<string, unknown> };
    };
    const tool = {
      name: "trigger-sampling-request",
      arguments: { prompt: "hello", maxTokens: 20 },
    };
    const first = await call(tool, { sampling: {} });
    expect(first.status).toBe(200);
    const asked = first.message.result as {
      resultType: string;
      inputRequests: Record<string, { method: string; params: { messages: unknown[] } }>;
      requestState: string;
    };
    expect(asked.resultType).toBe("input_required");
    const [[key, request]] = Object.entries(asked.inputRequests) as [
      [string, { method: string; params: { messages: unknown[] } }],
    ];
    expect(request.method).toBe("sampling/createMessage");
    expect(JSON.stringify(request.params.messages)).toContain("hello");

    // A state that was altered continues nothing.
    const altered = await call(
      { ...tool, requestState: `${asked.requestState}x`, inputResponses: {} },
      { sampling: {} },
    );
    expect(altered.message.error).toMatchObject({ code: -32602 });

    const second = await call(
      {
        ...tool,
        requestState: asked.requestState,
        inputResponses: {
          [key]: {
            model: "e2e-model",
            role: "assistant",
            content: { type: "text", text: "sampled for a stateless client" },
          },
        },
      },
      { sampling: {} },
    );
    expect(second.status).toBe(200);
    expect(second.message.result).toMatchObject({ resultType: "complete" });
    expect(text(second.message.result)).toContain("sampled for a stateless client");

    // A client that declares no capability is not asked: the server refuses the tool itself.
    const plain = await call(tool, {});
    expect(JSON.stringify(plain.message)).not.toContain("input_required");
  });

  it("refuses the server's requests for a client that cannot answer them", async () => {
    const connection = await connect(scope, "bruno");
    try {
      // The tool is listed (the gateway lists what the server offers capable clients) ...
      const { tools } = await connection.client.listTools();
      expect(tools.map((tool) => tool.name)).toContain("trigger-sampling-request");
      // ... but this client's own session with the server has no such tool.
      const refused = await connection.client
        .callTool({ name: "trigger-sampling-request", arguments: { prompt: "x", maxTokens: 5 } })
        .catch((error: unknown) => error);
      expect(JSON.stringify(refused) + String(refused)).toMatch(/not found|unknown|error/i);
    } finally {
      await connection.close();
    }
  });
});

describe.each(["everything", "everything-http"])("resource subscriptions as %s", (scope) => {
  it("relays resource updates to the client's session stream", async () => {
    const client = new Client({ name: "e2e-subscriber", version: "1.0.0" });
    const updated = new Promise<string>((resolve) => {
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) =>
        resolve(notification.params.uri),
      );
    });
    const transport = new StreamableHTTPClientTransport(new URL(`${stack.url}/${scope}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${await token("dora")}` } },
    });
    await client.connect(transport);
    try {
      expect(client.getServerCapabilities()?.resources).toEqual({
        subscribe: true,
        listChanged: true,
      });
      const { resources } = await client.listResources();
      const uri = resources.find((r) => r.uri.startsWith("demo://resource/static/"))!.uri;
      expect(await client.subscribeResource({ uri })).toEqual({});
      // The server starts sending updates of subscribed resources (at once, then every 5 s).
      await client.callTool({ name: "toggle-subscriber-updates", arguments: {} });
      expect(await updated).toBe(uri);
      await client.unsubscribeResource({ uri });
    } finally {
      await client.close();
    }
  });
});

describe.each(["everything", "everything-http"])("2026-07-28 listen stream on %s", (scope) => {
  /** Opens subscriptions/listen and reads its SSE events one by one. */
  async function listen(user: string, roles: string[], notifications: Record<string, unknown>) {
    const controller = new AbortController();
    const response = await fetch(`${stack.url}/${scope}/mcp`, {
      method: "POST",
      headers: {
        ...modernHeaders("subscriptions/listen"),
        authorization: `Bearer ${await token(user, roles)}`,
      },
      body: JSON.stringify(modernRequest("subscriptions/listen", { notifications }, "listen-1")),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/text\/event-stream/);
    const events = response
      .body!.pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream())
      .getReader();
    return {
      async next(): Promise<Record<string, unknown>> {
        for (;;) {
          const { value, done } = await events.read();
          if (done) throw new Error("the listen stream ended");
          if (value.data !== "") return JSON.parse(value.data) as Record<string, unknown>;
        }
      },
      close: () => controller.abort(),
    };
  }

  it("acknowledges what the server supports, then relays only that, tagged with its id", async () => {
    const uri = "demo://resource/static/document/features.md";
    const stream = await listen("erin", ["developer"], {
      resourceSubscriptions: [uri],
      resourcesListChanged: true,
    });
    try {
      expect(await stream.next()).toEqual({
        jsonrpc: "2.0",
        method: "notifications/subscriptions/acknowledged",
        params: {
          notifications: { resourcesListChanged: true, resourceSubscriptions: [uri] },
          _meta: { "io.modelcontextprotocol/subscriptionId": "listen-1" },
        },
      });
      // The server sends updates of the session's subscribed resources once told to.
      const call = await fetch(`${stack.url}/${scope}/mcp`, {
        method: "POST",
        headers: {
          ...modernHeaders("tools/call", "toggle-subscriber-updates"),
          authorization: `Bearer ${await token("erin")}`,
        },
        body: JSON.stringify(
          modernRequest("tools/call", { name: "toggle-subscriber-updates", arguments: {} }),
        ),
      });
      expect(call.status).toBe(200);
      const update = await stream.next();
      expect(update).toMatchObject({
        method: "notifications/resources/updated",
        params: { uri, _meta: { "io.modelcontextprotocol/subscriptionId": "listen-1" } },
      });
    } finally {
      stream.close();
    }
  });

  it("leaves out resources the user's roles do not show, and refuses a malformed filter", async () => {
    const hidden = "demo://resource/static/document/architecture.md";
    const stream = await listen("cleo", ["curator"], {
      resourceSubscriptions: [hidden],
      toolsListChanged: true,
    });
    try {
      const ack = await stream.next();
      expect(ack.params).toMatchObject({ notifications: {} });
      expect(JSON.stringify(ack)).not.toContain(hidden);
    } finally {
      stream.close();
    }
    const bad = await fetch(`${stack.url}/${scope}/mcp`, {
      method: "POST",
      headers: {
        ...modernHeaders("subscriptions/listen"),
        authorization: `Bearer ${await token("erin")}`,
      },
      body: JSON.stringify(
        modernRequest("subscriptions/listen", { notifications: { toolsListChanged: "yes" } }),
      ),
    });
    const [message] = await readMessages(bad);
    expect(message).toMatchObject({ error: { code: -32602 } });
  });
});

describe("policy over prompts and resources", () => {
  it("lists and serves only the prompts and resources a role names", async () => {
    const connection = await connectLegacy(
      `${stack.url}/everything/mcp`,
      await token("cleo", ["curator"]),
    );
    try {
      expect((await connection.client.listTools()).tools).toEqual([]);
      const { prompts } = await connection.client.listPrompts();
      expect(prompts.map((prompt) => prompt.name)).toEqual(["simple-prompt"]);
      expect((await connection.client.getPrompt({ name: "simple-prompt" })).messages).toHaveLength(
        1,
      );
      const refused = await connection.client
        .getPrompt({ name: "args-prompt", arguments: { city: "x" } })
        .catch((error: unknown) => error);
      expect(String(refused)).toMatch(/403|forbidden|not allowed/i);

      const { resources } = await connection.client.listResources();
      expect(resources.length).toBeGreaterThan(0);
      for (const resource of resources) {
        expect(resource.uri).toMatch(/^demo:\/\/resource\/static\//);
        expect(resource.uri).not.toBe("demo://resource/static/document/architecture.md");
      }
      const dynamic = await connection.client
        .readResource({ uri: "demo://resource/dynamic/text/1" })
        .catch((error: unknown) => error);
      expect(String(dynamic)).toMatch(/403|forbidden|not allowed/i);
      const denied = await connection.client
        .readResource({ uri: "demo://resource/static/document/architecture.md" })
        .catch((error: unknown) => error);
      expect(String(denied)).toMatch(/403|forbidden|not allowed/i);
      const tool = await connection.client
        .callTool({ name: "echo", arguments: { message: "x" } })
        .catch((error: unknown) => error);
      expect(String(tool)).toMatch(/403|forbidden|not allowed/i);
    } finally {
      await connection.close();
    }
  });

  it("serves a 2026-07-28 client in front of the 2025-11-25 server", async () => {
    const post = async (method: string, params: Record<string, unknown>, name?: string) => {
      const response = await fetch(`${stack.url}/everything/mcp`, {
        method: "POST",
        headers: {
          ...modernHeaders(method, name),
          authorization: `Bearer ${await token("alice")}`,
        },
        body: JSON.stringify(modernRequest(method, params)),
      });
      return { status: response.status, messages: await readMessages(response) };
    };
    const discovered = await post("server/discover", {});
    expect(discovered.messages[0]?.result).toMatchObject({
      capabilities: { prompts: {}, resources: {}, tools: {} },
    });
    const prompt = await post("prompts/get", { name: "simple-prompt" }, "simple-prompt");
    expect(prompt.status).toBe(200);
    expect(JSON.stringify(prompt.messages.at(-1))).toContain("This is a simple prompt");
    const uri = "demo://resource/dynamic/text/2";
    const read = await post("resources/read", { uri }, uri);
    expect(JSON.stringify(read.messages.at(-1))).toContain("Resource 2");
  });

  it("leaves prompts and resources out of scopes served by gateway tool servers", async () => {
    const connection = await connect("calculator");
    try {
      expect(connection.client.getServerCapabilities()?.prompts).toBeUndefined();
      const listing = await connection.client.listPrompts().catch((error: unknown) => error);
      expect(String(listing)).toMatch(/method not found/i);
    } finally {
      await connection.close();
    }
  });
});

describe("stdio server process", () => {
  it("gets only the configured environment: its own credential, none of the gateway's secrets", async () => {
    const connection = await connect("everything");
    try {
      const shown = text(await connection.client.callTool({ name: "get-env", arguments: {} }));
      expect(shown).toContain("hello from the config");
      expect(shown).toContain(BACKEND_SECRET);
      for (const secret of [
        env.JWT_SECRET_KEY!,
        env.GATEWAY_VERDICT_KEY!,
        env.TOOL_GATEWAY_SHARED_SECRET!,
      ]) {
        expect(shown).not.toContain(secret);
      }
      // And never the caller's token.
      expect(shown).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
    } finally {
      await connection.close();
    }
  });

  it("refuses callers whose role does not allow the scope", async () => {
    const response = await fetch(`${stack.url}/everything/mcp`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${await token("mallory", ["analyst"])}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-11-25",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-11-25",
          capabilities: {},
          clientInfo: { name: "x", version: "1" },
        },
      }),
    });
    expect(response.status).toBe(403);
    await response.body?.cancel();
  });
});

describe("an MCP server that cannot be reached", () => {
  it("answers with an upstream error naming no secret, and the other scopes keep serving", async () => {
    const connection = await connect("everything-broken");
    try {
      const failure = await connection.client.listTools().catch((error: unknown) => error);
      expect(String(failure)).toMatch(/unavailable/i);
      expect(String(failure)).not.toContain("E2E_MISSING_TOKEN");
    } finally {
      await connection.close();
    }
    const working = await connect("everything");
    try {
      expect(
        text(await working.client.callTool({ name: "echo", arguments: { message: "ok" } })),
      ).toBe("Echo: ok");
    } finally {
      await working.close();
    }
  });
});
