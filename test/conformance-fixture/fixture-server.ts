/**
 * The MCP server of the conformance fixture: every tool, prompt and resource the server
 * scenarios of the official conformance suite (@modelcontextprotocol/conformance 0.1 and 0.2)
 * call by name, with the behaviour those scenarios check. Built with the 2.x SDK's McpServer,
 * one instance per 2025-era session or per 2026-07-28 request (`createFixtureServer` is the
 * factory both serving paths use).
 *
 * Server→client input differs by era: on a 2025-era connection the fixture sends real
 * `sampling/createMessage` / `elicitation/create` requests and waits for the answer; on
 * 2026-07-28 the same tools answer with an InputRequiredResult (SEP-2322, "MRTR") and read the
 * client's answers from the retried request's `inputResponses`.
 */
import { randomUUID } from "node:crypto";
import {
  completable,
  createRequestStateCodec,
  fromJsonSchema,
  inputRequired,
  McpServer,
  MissingRequiredClientCapabilityError,
  ProtocolError,
  ResourceTemplate,
  type CallToolResult,
  type GetPromptResult,
  type InputRequest,
  type InputRequiredResult,
  type McpRequestContext,
  type RequestStateCodec,
  type ServerContext,
  type ServerNotifier,
} from "@modelcontextprotocol/server";
import {
  memorySkillFiles,
  SkillsExtension,
  type SkillCatalog,
} from "@modelcontextprotocol/server/ext/skills";
import { z } from "zod";
import {
  FIXTURE_SKILL_FILES,
  JSON_SCHEMA_2020_12_TOOL_INPUT,
  PNG_1X1_BASE64,
  TEXT,
  URI,
  WAV_SILENCE_BASE64,
} from "./content.ts";
import {
  clientCapabilitiesOf,
  declaresTasks,
  registerTaskMethods,
  TASKS_EXTENSION,
  tasksRequiredError,
  TaskStore,
  type PendingInput,
  type TaskContext,
} from "./tasks.ts";

export const FIXTURE_NAME = "mcp-gateway-conformance-fixture";
export const FIXTURE_VERSION = "1.0.0";

/**
 * The tools that can run as a task (tasks extension, SEP-2663) and how: `optional` ones run inline
 * when the request did not declare the extension, `required` ones answer -32021 then. Exported so
 * a gateway in front of the fixture can configure the same (`task_support` in tools.yaml).
 */
export const FIXTURE_TASK_SUPPORT = {
  slow_compute: "optional",
  failing_job: "required",
  protocol_error_job: "optional",
  confirm_delete: "optional",
  multi_input: "optional",
  test_tool_with_task: "required",
} as const satisfies Record<string, "optional" | "required">;

/**
 * The tools that ask for input before their task begins (SEP-2663 with SEP-2322): a 2026-07-28
 * client sees this in the fixture's answers; over 2025-11-25, where the server's requests look
 * the same either way, a gateway is told (`input_before_task` in tools.yaml).
 */
export const FIXTURE_INPUT_BEFORE_TASK: readonly string[] = ["test_tool_with_task"];

/** State shared by every server instance of one fixture (sessions and per-request instances). */
export interface FixtureState {
  tasks: TaskStore;
  requestState: RequestStateCodec<RoundState>;
  /** URIs subscribed through resources/subscribe (2025-era sessions). */
  subscriptions: Set<string>;
  /** Publishes list_changed on open 2026-07-28 subscriptions/listen streams, once the HTTP handler exists. */
  notifier: ServerNotifier | undefined;
  /** The skills (SEP-2640 extension) every server instance serves. */
  skills: SkillCatalog;
}

/** What a multi-round tool keeps in its (HMAC-protected) requestState between rounds. */
interface RoundState {
  tool: string;
  round: number;
  nonce: string;
  name?: string;
}

export async function createFixtureState(): Promise<FixtureState> {
  return {
    tasks: new TaskStore(),
    requestState: createRequestStateCodec<RoundState>({
      key: randomUUID() + randomUUID(),
      ttlSeconds: 600,
    }),
    subscriptions: new Set(),
    notifier: undefined,
    skills: await SkillsExtension.load(memorySkillFiles(FIXTURE_SKILL_FILES), { strict: true }),
  };
}

type Era = McpRequestContext["era"];

const text = (value: string): CallToolResult => ({ content: [{ type: "text", text: value }] });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A tool input schema published verbatim (the SDK validates arguments against it). */
const schema = (json: Record<string, unknown>) => fromJsonSchema(json as never);
const NO_ARGUMENTS = schema({ type: "object", properties: {} });

// ---- Answers to embedded requests -------------------------------------------------------------

/** The accepted content of an elicitation answer, when it carries every field in `required`. */
function acceptedFields(answer: unknown, required: string[]): Record<string, unknown> | undefined {
  if (!isRecord(answer) || answer.action !== "accept" || !isRecord(answer.content))
    return undefined;
  const content = answer.content;
  return required.every((field) => content[field] !== undefined) ? content : undefined;
}

function isSamplingAnswer(answer: unknown): boolean {
  return isRecord(answer) && answer.content !== undefined;
}

function isRootsAnswer(answer: unknown): boolean {
  return isRecord(answer) && Array.isArray(answer.roots);
}

function samplingText(answer: unknown): string {
  if (!isRecord(answer)) return "(no answer)";
  const content = Array.isArray(answer.content) ? answer.content[0] : answer.content;
  return isRecord(content) && typeof content.text === "string" ? content.text : "(no text)";
}

function describeElicitation(answer: unknown): string {
  if (!isRecord(answer)) return "action=none, content={}";
  return `action=${String(answer.action)}, content=${JSON.stringify(answer.content ?? {})}`;
}

const elicitName = (message: string): InputRequest =>
  inputRequired.elicit({
    message,
    requestedSchema: {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
    },
  });

/**
 * Reads the answers to `requests` from a retried 2026-07-28 request, or returns the
 * InputRequiredResult asking (again) for the ones still missing or unusable.
 */
function gather(
  ctx: ServerContext,
  requests: Record<string, { request: InputRequest; usable: (answer: unknown) => boolean }>,
  requestState?: string,
): { answers: Record<string, unknown> } | { ask: InputRequiredResult } {
  const responses = ctx.mcpReq.inputResponses ?? {};
  const missing = Object.entries(requests).filter(([key, { usable }]) => !usable(responses[key]));
  if (missing.length === 0) return { answers: responses };
  return {
    ask: inputRequired({
      inputRequests: Object.fromEntries(missing.map(([key, { request }]) => [key, request])),
      ...(requestState === undefined ? {} : { requestState }),
    }),
  };
}

/**
 * McpServer turns whatever a tool callback throws into an `isError` tool result. Some fixture
 * tools must answer with a JSON-RPC error instead (-32021 for a missing client capability, a
 * protocol error): they call `rejectRequest`, which remembers the error for the request and
 * throws; the wrapper `propagateRejections` puts around McpServer's tools/call handler rethrows it.
 */
const rejections = new WeakMap<ServerContext, Error>();

function rejectRequest(ctx: ServerContext, error: Error): never {
  rejections.set(ctx, error);
  throw error;
}

/**
 * Must run before McpServer installs its tools/call handler: at the first registerTool, or in
 * its constructor when the `tools` capability is passed there.
 */
function propagateRejections(mcp: McpServer): void {
  const server = mcp.server;
  const register = server.setRequestHandler.bind(server) as (...args: unknown[]) => void;
  const wrapped = (...args: unknown[]): void => {
    const [method, handler] = args;
    if (method !== "tools/call" || typeof handler !== "function" || args.length !== 2) {
      register(...args);
      return;
    }
    const callTool = handler as (request: unknown, ctx: ServerContext) => Promise<unknown>;
    register(method, async (request: unknown, ctx: ServerContext) => {
      const result = await callTool(request, ctx);
      const rejection = rejections.get(ctx);
      if (rejection !== undefined) throw rejection;
      // A CreateTaskResult is not a tool result: drop the empty content the SDK projects onto it.
      if (isRecord(result) && result.resultType === "task") {
        const { content, ...task } = result;
        return Array.isArray(content) && content.length === 0 ? task : result;
      }
      return result;
    });
  };
  (server as { setRequestHandler: unknown }).setRequestHandler = wrapped;
}

/** Rejects the request with -32021 unless the client declared every capability in `needed`. */
function requireCapabilities(
  mcp: McpServer,
  ctx: ServerContext,
  needed: ("sampling" | "elicitation" | "roots")[],
): void {
  const capabilities = clientCapabilitiesOf(mcp, ctx);
  const missing = needed.filter((name) => capabilities[name] === undefined);
  if (missing.length > 0) {
    rejectRequest(
      ctx,
      new MissingRequiredClientCapabilityError(
        { requiredCapabilities: Object.fromEntries(missing.map((name) => [name, {}])) },
        `This request needs the client capabilities: ${missing.join(", ")}`,
      ),
    );
  }
}

/**
 * One embedded request answered in the style of the connection's era: a real server→client
 * request on a 2025-era connection, an InputRequiredResult round on 2026-07-28.
 */
async function askOnce(
  era: Era,
  ctx: ServerContext,
  key: string,
  request: InputRequest,
  usable: (answer: unknown) => boolean,
): Promise<{ answer: unknown } | { ask: InputRequiredResult }> {
  if (era === "legacy") {
    const answer = await ctx.mcpReq.send(
      { method: request.method, params: request.params } as never,
      { timeout: 60_000 } as never,
    );
    return { answer };
  }
  const round = gather(ctx, { [key]: { request, usable } });
  return "ask" in round ? round : { answer: round.answers[key] };
}

// ---- The server --------------------------------------------------------------------------------

export function createFixtureServer(state: FixtureState, era: Era): McpServer {
  const mcp = new McpServer(
    { name: FIXTURE_NAME, version: FIXTURE_VERSION },
    {
      // No `tools` here: McpServer would install its tools/call handler in the constructor,
      // before propagateRejections can wrap it. The first registerTool adds
      // `tools: { listChanged: true }`.
      capabilities: {
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {},
        completions: {},
        ...(era === "modern" ? { extensions: { [TASKS_EXTENSION]: {} } } : {}),
      },
      instructions:
        "Conformance fixture: implements the tools, prompts and resources the MCP conformance suite's server scenarios call.",
      requestState: { verify: (wire, ctx) => state.requestState.verify(wire, ctx) },
    },
  );
  propagateRejections(mcp);
  registerContentTools(mcp);
  registerBehaviourTools(mcp, state, era);
  registerInputTools(mcp, state, era);
  registerStatelessProbeTools(mcp, state, era);
  registerTaskTools(mcp, state, era);
  registerResources(mcp, state, era);
  registerPrompts(mcp, era);
  if (era === "modern") registerTaskMethods(mcp, state.tasks);
  state.skills.attach(mcp);
  return mcp;
}

/** Tools whose result is fixed content. `test_simple_text` stays first: suites call tools[0] with `{}`. */
function registerContentTools(mcp: McpServer): void {
  mcp.registerTool(
    "test_simple_text",
    { description: "Returns one text block", inputSchema: NO_ARGUMENTS },
    () => text(TEXT.simple),
  );
  mcp.registerTool(
    "test_image_content",
    { description: "Returns one PNG image block", inputSchema: NO_ARGUMENTS },
    () => ({ content: [{ type: "image", data: PNG_1X1_BASE64, mimeType: "image/png" }] }),
  );
  mcp.registerTool(
    "test_audio_content",
    { description: "Returns one WAV audio block", inputSchema: NO_ARGUMENTS },
    () => ({ content: [{ type: "audio", data: WAV_SILENCE_BASE64, mimeType: "audio/wav" }] }),
  );
  mcp.registerTool(
    "test_embedded_resource",
    { description: "Returns one embedded text resource", inputSchema: NO_ARGUMENTS },
    () => ({
      content: [
        {
          type: "resource",
          resource: { uri: URI.embedded, mimeType: "text/plain", text: TEXT.embeddedResource },
        },
      ],
    }),
  );
  mcp.registerTool(
    "test_multiple_content_types",
    { description: "Returns a text, an image and a resource block", inputSchema: NO_ARGUMENTS },
    () => ({
      content: [
        { type: "text", text: TEXT.mixedIntro },
        { type: "image", data: PNG_1X1_BASE64, mimeType: "image/png" },
        {
          type: "resource",
          resource: {
            uri: URI.mixed,
            mimeType: "application/json",
            text: JSON.stringify({ test: "data", value: 123 }),
          },
        },
      ],
    }),
  );
  mcp.registerTool(
    "test_error_handling",
    { description: "Always answers with a tool error (isError: true)", inputSchema: NO_ARGUMENTS },
    () => ({ isError: true, content: [{ type: "text", text: TEXT.toolError }] }),
  );
  mcp.registerTool(
    "json_schema_2020_12_tool",
    {
      description: "Tool with JSON Schema 2020-12 features",
      inputSchema: schema(JSON_SCHEMA_2020_12_TOOL_INPUT),
    },
    (args) => text(`json_schema_2020_12_tool called with ${JSON.stringify(args)}`),
  );
  mcp.registerTool(
    "test_header_param",
    {
      description:
        "Echoes its region argument; the argument is mirrored in the Mcp-Param-Region request header (SEP-2243)",
      inputSchema: schema({
        type: "object",
        properties: {
          region: { type: "string", description: "A region name", "x-mcp-header": "Region" },
        },
        required: ["region"],
      }),
    },
    (args) => text(`region=${String((args as { region?: unknown }).region)}`),
  );
}

/** Tools that log, report progress, close their SSE stream, or ask the client for input. */
function registerBehaviourTools(mcp: McpServer, _state: FixtureState, era: Era): void {
  mcp.registerTool(
    "test_tool_with_logging",
    {
      description: "Sends three info log notifications about 50 ms apart",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      await ctx.mcpReq.log("info", "Tool execution started", "conformance-fixture");
      await sleep(50);
      await ctx.mcpReq.log("info", "Tool processing data", "conformance-fixture");
      await sleep(50);
      await ctx.mcpReq.log("info", "Tool execution completed", "conformance-fixture");
      return text("Tool with logging executed successfully");
    },
  );
  mcp.registerTool(
    "test_tool_with_progress",
    {
      description: "Reports progress 0, 50 and 100 of 100 about 50 ms apart",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      const progressToken = ctx.mcpReq._meta?.progressToken;
      for (const progress of [0, 50, 100]) {
        if (progressToken !== undefined) {
          await ctx.mcpReq.notify({
            method: "notifications/progress",
            params: { progressToken, progress, total: 100, message: `Step ${progress} of 100` },
          });
        }
        if (progress < 100) await sleep(50);
      }
      return text(`Progress reported with token ${String(progressToken)}`);
    },
  );
  mcp.registerTool(
    "test_reconnection",
    {
      description:
        "Closes its SSE stream mid-call (SEP-1699) and answers after the client reconnected",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      ctx.http?.closeSSE?.();
      await sleep(100);
      return text(TEXT.reconnection);
    },
  );
  mcp.registerTool(
    "test_sampling",
    {
      description: "Asks the client to sample an LLM with the prompt and returns its answer",
      inputSchema: schema({
        type: "object",
        properties: { prompt: { type: "string", description: "The prompt to send to the LLM" } },
        required: ["prompt"],
      }),
    },
    async (args, ctx) => {
      const prompt = String((args as { prompt: unknown }).prompt);
      requireCapabilities(mcp, ctx, ["sampling"]);
      const round = await askOnce(
        era,
        ctx,
        "sampling",
        inputRequired.createMessage({
          messages: [{ role: "user", content: { type: "text", text: prompt } }],
          maxTokens: 100,
        }),
        isSamplingAnswer,
      );
      if ("ask" in round) return round.ask;
      return text(`LLM response: ${samplingText(round.answer)}`);
    },
  );
  mcp.registerTool(
    "test_elicitation",
    {
      description: "Asks the user for a username and an email and returns the answer",
      inputSchema: schema({
        type: "object",
        properties: { message: { type: "string", description: "The message to show the user" } },
        required: ["message"],
      }),
    },
    async (args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const round = await askOnce(
        era,
        ctx,
        "user_info",
        inputRequired.elicit({
          message: String((args as { message: unknown }).message),
          requestedSchema: {
            type: "object",
            properties: {
              username: { type: "string", description: "User's response" },
              email: { type: "string", description: "User's email address" },
            },
            required: ["username", "email"],
          },
        }),
        (answer) => isRecord(answer) && typeof answer.action === "string",
      );
      if ("ask" in round) return round.ask;
      return text(`User response: ${describeElicitation(round.answer)}`);
    },
  );
  mcp.registerTool(
    "test_elicitation_sep1034_defaults",
    {
      description: "Elicits a form whose primitive fields all carry defaults (SEP-1034)",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const round = await askOnce(
        era,
        ctx,
        "defaults_form",
        inputRequired.elicit({
          message: "Please review and update the form fields with defaults",
          requestedSchema: {
            type: "object",
            properties: {
              name: { type: "string", description: "User name", default: "John Doe" },
              age: { type: "integer", description: "User age", default: 30 },
              score: { type: "number", description: "User score", default: 95.5 },
              status: {
                type: "string",
                description: "User status",
                enum: ["active", "inactive", "pending"],
                default: "active",
              },
              verified: { type: "boolean", description: "Verification status", default: true },
            },
            required: [],
          },
        }),
        (answer) => isRecord(answer) && typeof answer.action === "string",
      );
      if ("ask" in round) return round.ask;
      return text(`Elicitation completed: ${describeElicitation(round.answer)}`);
    },
  );
  mcp.registerTool(
    "test_elicitation_sep1330_enums",
    {
      description: "Elicits a form with the five enum shapes of SEP-1330",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const round = await askOnce(
        era,
        ctx,
        "enum_form",
        inputRequired.elicit({
          message: "Please pick from the enum fields",
          requestedSchema: {
            type: "object",
            properties: {
              untitledSingle: {
                type: "string",
                description: "Pick one (untitled)",
                enum: ["option1", "option2", "option3"],
              },
              titledSingle: {
                type: "string",
                description: "Pick one (titled)",
                oneOf: [
                  { const: "value1", title: "First Option" },
                  { const: "value2", title: "Second Option" },
                  { const: "value3", title: "Third Option" },
                ],
              },
              legacyEnum: {
                type: "string",
                description: "Pick one (legacy enumNames)",
                enum: ["opt1", "opt2", "opt3"],
                enumNames: ["Option One", "Option Two", "Option Three"],
              },
              untitledMulti: {
                type: "array",
                description: "Pick several (untitled)",
                minItems: 1,
                maxItems: 3,
                items: { type: "string", enum: ["option1", "option2", "option3"] },
              },
              titledMulti: {
                type: "array",
                description: "Pick several (titled)",
                minItems: 1,
                maxItems: 3,
                items: {
                  anyOf: [
                    { const: "value1", title: "First Choice" },
                    { const: "value2", title: "Second Choice" },
                    { const: "value3", title: "Third Choice" },
                  ],
                },
              },
            },
            required: [],
          } as never,
        }),
        (answer) => isRecord(answer) && typeof answer.action === "string",
      );
      if ("ask" in round) return round.ask;
      return text(`Elicitation completed: ${describeElicitation(round.answer)}`);
    },
  );
}

/** The InputRequiredResult (SEP-2322) tools; on a 2025-era session the SDK fulfils their rounds. */
function registerInputTools(mcp: McpServer, state: FixtureState, _era: Era): void {
  const caps = (ctx: ServerContext) => clientCapabilitiesOf(mcp, ctx);
  const mint = (ctx: ServerContext, tool: string, round: number, extra: Partial<RoundState> = {}) =>
    state.requestState.mint({ tool, round, nonce: randomUUID(), ...extra }, ctx);
  const stateOf = (ctx: ServerContext): RoundState | undefined =>
    ctx.mcpReq.requestState<RoundState>();

  mcp.registerTool(
    "test_input_required_result_elicitation",
    {
      description: "Asks for the user's name (elicitation) and greets them",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const round = gather(ctx, {
        user_name: {
          request: elicitName("What is your name?"),
          usable: (answer) => acceptedFields(answer, ["name"]) !== undefined,
        },
      });
      if ("ask" in round) return round.ask;
      return text(`Hello, ${String(acceptedFields(round.answers.user_name, ["name"])!.name)}!`);
    },
  );
  mcp.registerTool(
    "test_input_required_result_sampling",
    {
      description: "Asks the client's LLM a question and returns its answer",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["sampling"]);
      const round = gather(ctx, {
        capital_question: {
          request: inputRequired.createMessage({
            messages: [
              { role: "user", content: { type: "text", text: "What is the capital of France?" } },
            ],
            maxTokens: 100,
          }),
          usable: isSamplingAnswer,
        },
      });
      if ("ask" in round) return round.ask;
      return text(`The model answered: ${samplingText(round.answers.capital_question)}`);
    },
  );
  mcp.registerTool(
    "test_input_required_result_list_roots",
    { description: "Asks for the client's roots and lists them", inputSchema: NO_ARGUMENTS },
    (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["roots"]);
      const round = gather(ctx, {
        client_roots: { request: inputRequired.listRoots(), usable: isRootsAnswer },
      });
      if ("ask" in round) return round.ask;
      const roots = (round.answers.client_roots as { roots: { uri?: unknown }[] }).roots;
      return text(`Client roots: ${roots.map((root) => String(root.uri)).join(", ") || "(none)"}`);
    },
  );
  const confirmFlow = async (
    ctx: ServerContext,
    tool: string,
  ): Promise<CallToolResult | InputRequiredResult> => {
    requireCapabilities(mcp, ctx, ["elicitation"]);
    const previous = stateOf(ctx);
    const answer =
      previous?.tool === tool
        ? acceptedFields(ctx.mcpReq.inputResponses?.confirm, ["ok"])
        : undefined;
    if (answer !== undefined) return text(`Confirmed: ok=${String(answer.ok)}`);
    return inputRequired({
      inputRequests: {
        confirm: inputRequired.elicit({
          message: "Please confirm",
          requestedSchema: {
            type: "object",
            properties: { ok: { type: "boolean" } },
            required: ["ok"],
          },
        }),
      },
      requestState: await mint(ctx, tool, 1),
    });
  };
  mcp.registerTool(
    "test_input_required_result_request_state",
    {
      description: "Asks for a confirmation and carries HMAC-protected requestState between rounds",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => confirmFlow(ctx, "test_input_required_result_request_state"),
  );
  mcp.registerTool(
    "test_input_required_result_tampered_state",
    {
      description:
        "Like test_input_required_result_request_state; a requestState that fails its HMAC check is rejected with -32602",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => confirmFlow(ctx, "test_input_required_result_tampered_state"),
  );
  mcp.registerTool(
    "test_input_required_result_multiple_inputs",
    {
      description: "Asks for an elicitation, a sampling and a roots answer in one round",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation", "sampling", "roots"]);
      const tool = "test_input_required_result_multiple_inputs";
      const round = gather(
        ctx,
        {
          user_name: {
            request: elicitName("What is your name?"),
            usable: (answer) => acceptedFields(answer, ["name"]) !== undefined,
          },
          greeting: {
            request: inputRequired.createMessage({
              messages: [{ role: "user", content: { type: "text", text: "Generate a greeting" } }],
              maxTokens: 50,
            }),
            usable: isSamplingAnswer,
          },
          client_roots: { request: inputRequired.listRoots(), usable: isRootsAnswer },
        },
        await mint(ctx, tool, 1),
      );
      if ("ask" in round) return round.ask;
      const name = String(acceptedFields(round.answers.user_name, ["name"])!.name);
      const roots = (round.answers.client_roots as { roots: unknown[] }).roots.length;
      return text(`${samplingText(round.answers.greeting)} ${name} (${roots} root(s))`);
    },
  );
  mcp.registerTool(
    "test_input_required_result_multi_round",
    {
      description: "Asks for a name, then in a second round for a colour, then answers",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const tool = "test_input_required_result_multi_round";
      const previous = stateOf(ctx);
      const responses = ctx.mcpReq.inputResponses ?? {};
      if (previous?.tool === tool && previous.round === 2 && previous.name !== undefined) {
        const color = acceptedFields(responses.step2, ["color"]);
        if (color !== undefined) return text(`${previous.name} likes ${String(color.color)}`);
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: "Step 2: What is your favorite color?",
              requestedSchema: {
                type: "object",
                properties: { color: { type: "string" } },
                required: ["color"],
              },
            }),
          },
          requestState: await mint(ctx, tool, 2, { name: previous.name }),
        });
      }
      const name = previous?.tool === tool ? acceptedFields(responses.step1, ["name"]) : undefined;
      if (name !== undefined) {
        return inputRequired({
          inputRequests: {
            step2: inputRequired.elicit({
              message: "Step 2: What is your favorite color?",
              requestedSchema: {
                type: "object",
                properties: { color: { type: "string" } },
                required: ["color"],
              },
            }),
          },
          requestState: await mint(ctx, tool, 2, { name: String(name.name) }),
        });
      }
      return inputRequired({
        inputRequests: { step1: elicitName("Step 1: What is your name?") },
        requestState: await mint(ctx, tool, 1),
      });
    },
  );
  mcp.registerTool(
    "test_input_required_result_capabilities",
    {
      description:
        "Asks only for the kinds of input the request's client capabilities declare (elicitation, sampling, roots)",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      const declared = caps(ctx);
      const requests: Parameters<typeof gather>[1] = {};
      if (declared.elicitation !== undefined) {
        requests.user_name = {
          request: elicitName("What is your name?"),
          usable: (answer) => acceptedFields(answer, ["name"]) !== undefined,
        };
      }
      if (declared.sampling !== undefined) {
        requests.summary = {
          request: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
            maxTokens: 50,
          }),
          usable: isSamplingAnswer,
        };
      }
      if (declared.roots !== undefined) {
        requests.client_roots = { request: inputRequired.listRoots(), usable: isRootsAnswer };
      }
      if (Object.keys(requests).length === 0) {
        return text("The client declared no capability this tool could ask through");
      }
      const round = gather(ctx, requests);
      if ("ask" in round) return round.ask;
      return text(`Received answers for: ${Object.keys(requests).join(", ")}`);
    },
  );
}

/** Diagnostic tools of the server-stateless scenario (2026-07-28). */
function registerStatelessProbeTools(mcp: McpServer, state: FixtureState, era: Era): void {
  mcp.registerTool(
    "test_missing_capability",
    {
      description:
        "Needs the client's sampling capability: without it the call fails with -32021 MissingRequiredClientCapability",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["sampling"]);
      const round = gather(ctx, {
        sample: {
          request: inputRequired.createMessage({
            messages: [{ role: "user", content: { type: "text", text: "Say hello" } }],
            maxTokens: 20,
          }),
          usable: isSamplingAnswer,
        },
      });
      if ("ask" in round) return round.ask;
      return text(`Sampled: ${samplingText(round.answers.sample)}`);
    },
  );
  mcp.registerTool(
    "test_streaming_elicitation",
    {
      description:
        "Needs elicitation; on 2026-07-28 it asks through an InputRequiredResult on its response stream, never through a server→client request",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      requireCapabilities(mcp, ctx, ["elicitation"]);
      const round = await askOnce(
        era,
        ctx,
        "confirm",
        inputRequired.elicit({
          message: "Continue?",
          requestedSchema: {
            type: "object",
            properties: { ok: { type: "boolean" } },
            required: ["ok"],
          },
        }),
        (answer) => isRecord(answer) && typeof answer.action === "string",
      );
      if ("ask" in round) return round.ask;
      return text(`Elicitation answered: ${describeElicitation(round.answer)}`);
    },
  );
  mcp.registerTool(
    "test_logging_tool",
    {
      description:
        "Logs one info message; it is delivered only when the request asked for a log level",
      inputSchema: NO_ARGUMENTS,
    },
    async (_args, ctx) => {
      await ctx.mcpReq.log("info", "test_logging_tool ran", "conformance-fixture");
      return text("Logged one info message (if the request set a log level)");
    },
  );
  mcp.registerTool(
    "test_trigger_tool_change",
    {
      description: "Announces notifications/tools/list_changed to listeners",
      inputSchema: NO_ARGUMENTS,
    },
    () => {
      if (era === "legacy") mcp.sendToolListChanged();
      else state.notifier?.toolsChanged();
      return text("tools/list_changed announced");
    },
  );
  mcp.registerTool(
    "test_trigger_prompt_change",
    {
      description: "Announces notifications/prompts/list_changed to listeners",
      inputSchema: NO_ARGUMENTS,
    },
    () => {
      if (era === "legacy") mcp.sendPromptListChanged();
      else state.notifier?.promptsChanged();
      return text("prompts/list_changed announced");
    },
  );
}

/**
 * The tools of the tasks scenarios (SEP-2663). On 2026-07-28, a client that declares the
 * extension gets a CreateTaskResult from the task-supporting ones; otherwise they run inline
 * (except the `required` ones, which answer -32021 then). 2025-era sessions always run inline.
 */
function registerTaskTools(mcp: McpServer, state: FixtureState, era: Era): void {
  type Mode = "optional" | "required";
  /** Runs `work` as a task when the request can have one, inline otherwise. */
  const dispatch = async (
    ctx: ServerContext,
    mode: Mode,
    work: (task: TaskContext) => Promise<CallToolResult>,
    inline: () => Promise<CallToolResult | InputRequiredResult>,
  ): Promise<CallToolResult | InputRequiredResult> => {
    if (era === "modern") {
      if (declaresTasks(clientCapabilitiesOf(mcp, ctx))) {
        return state.tasks.create(work) as unknown as CallToolResult;
      }
      if (mode === "required") rejectRequest(ctx, tasksRequiredError());
    }
    return inline();
  };

  mcp.registerTool(
    "greet",
    {
      description: "Synchronous: returns Hello, {name}!",
      inputSchema: schema({
        type: "object",
        properties: { name: { type: "string", description: "Who to greet" } },
        required: ["name"],
      }),
    },
    (args) => text(`Hello, ${String((args as { name: unknown }).name)}!`),
  );

  const slowInput = schema({
    type: "object",
    properties: {
      seconds: { type: "number", minimum: 0, maximum: 600, description: "How long to work" },
      label: { type: "string", description: "Echoed in the result" },
    },
  });
  mcp.registerTool(
    "slow_compute",
    {
      description:
        "Task-supporting: works for `seconds` seconds, then returns a result; cancellable",
      inputSchema: slowInput,
    },
    (args, ctx) => {
      const { seconds = 1, label = "" } = args as { seconds?: number; label?: string };
      const done = (): CallToolResult =>
        text(`slow_compute${label === "" ? "" : ` (${label})`} finished after ${seconds}s`);
      return dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.slow_compute,
        async (task) => {
          await task.sleep(seconds * 1000);
          return done();
        },
        async () => {
          await sleep(Math.min(seconds, 30) * 1000);
          return done();
        },
      );
    },
  );
  mcp.registerTool(
    "failing_job",
    {
      description:
        "Task-required: after about a second it reports a tool execution error (the task completes with result.isError)",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      const failed: CallToolResult = {
        isError: true,
        content: [{ type: "text", text: "failing_job failed, as it always does" }],
      };
      return dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.failing_job,
        async (task) => {
          await task.sleep(1000);
          return failed;
        },
        async () => failed,
      );
    },
  );
  mcp.registerTool(
    "protocol_error_job",
    {
      description: "Task-supporting: fails with a protocol error (the task ends failed with error)",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) =>
      dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.protocol_error_job,
        async (task) => {
          await task.sleep(200);
          throw new ProtocolError(-32603, "protocol_error_job hit an internal error on purpose");
        },
        async () =>
          rejectRequest(
            ctx,
            new ProtocolError(-32603, "protocol_error_job hit an internal error on purpose"),
          ),
      ),
  );

  const confirmRequest = (filename: string): PendingInput =>
    inputRequired.elicit({
      message: `Delete ${filename}?`,
      requestedSchema: {
        type: "object",
        properties: { confirm: { type: "boolean", description: "Delete the file" } },
        required: ["confirm"],
      },
    });
  const deleted = (filename: string, answer: unknown): CallToolResult =>
    text(
      acceptedFields(answer, ["confirm"])?.confirm === true
        ? `Deleted ${filename}`
        : `Kept ${filename}`,
    );
  mcp.registerTool(
    "confirm_delete",
    {
      description:
        "Task-supporting: asks the user to confirm (elicitation) before pretending to delete the file",
      inputSchema: schema({
        type: "object",
        properties: { filename: { type: "string" } },
        required: ["filename"],
      }),
    },
    (args, ctx) => {
      const filename = String((args as { filename: unknown }).filename);
      return dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.confirm_delete,
        async (task) => {
          const key = `confirm-${randomUUID().slice(0, 8)}`;
          const answers = await task.ask({ [key]: confirmRequest(filename) });
          return deleted(filename, answers[key]);
        },
        async () => {
          const round = await askOnce(era, ctx, "confirm", confirmRequest(filename), (answer) =>
            isRecord(answer),
          );
          if ("ask" in round) return round.ask;
          return deleted(filename, round.answer);
        },
      );
    },
  );

  const nameRequest = inputRequired.elicit({
    message: "Your name?",
    requestedSchema: {
      type: "object",
      properties: { name: { type: "string" } },
      required: ["name"],
    },
  });
  const multiConfirmRequest = inputRequired.elicit({
    message: "Proceed?",
    requestedSchema: {
      type: "object",
      properties: { confirm: { type: "boolean" } },
      required: ["confirm"],
    },
  });
  const multiDone = (name: unknown, confirm: unknown): CallToolResult =>
    text(
      `multi_input: name=${String(acceptedFields(name, ["name"])?.name)}, confirm=${String(acceptedFields(confirm, ["confirm"])?.confirm)}`,
    );
  mcp.registerTool(
    "multi_input",
    {
      description: "Task-supporting: asks two questions (two elicitations) at once",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) =>
      dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.multi_input,
        async (task) => {
          const id = randomUUID().slice(0, 8);
          const answers = await task.ask({
            [`name-${id}`]: nameRequest,
            [`confirm-${id}`]: multiConfirmRequest,
          });
          return multiDone(answers[`name-${id}`], answers[`confirm-${id}`]);
        },
        async () => {
          requireCapabilities(mcp, ctx, ["elicitation"]);
          const round = gather(ctx, {
            name: { request: nameRequest, usable: isRecord },
            confirm: { request: multiConfirmRequest, usable: isRecord },
          });
          if ("ask" in round) return round.ask;
          return multiDone(round.answers.name, round.answers.confirm);
        },
      ),
  );

  mcp.registerTool(
    "test_tool_with_task",
    {
      description:
        "Task-required: first asks for the user's name (InputRequiredResult), then continues as a task whose result greets them",
      inputSchema: NO_ARGUMENTS,
    },
    (_args, ctx) => {
      if (era === "modern" && !declaresTasks(clientCapabilitiesOf(mcp, ctx))) {
        rejectRequest(ctx, tasksRequiredError());
      }
      const round = gather(ctx, {
        user_name: {
          request: elicitName("What is your name?"),
          usable: (answer) => acceptedFields(answer, ["name"]) !== undefined,
        },
      });
      if ("ask" in round) return round.ask;
      const name = String(acceptedFields(round.answers.user_name, ["name"])!.name);
      return dispatch(
        ctx,
        FIXTURE_TASK_SUPPORT.test_tool_with_task,
        async (task) => {
          await task.sleep(300);
          return text(`Hello, ${name}! (from a task)`);
        },
        async () => text(`Hello, ${name}!`),
      );
    },
  );
}

function registerResources(mcp: McpServer, state: FixtureState, era: Era): void {
  mcp.registerResource(
    "static-text",
    URI.staticText,
    { title: "Static text", description: "A fixed text resource", mimeType: "text/plain" },
    () => ({ contents: [{ uri: URI.staticText, mimeType: "text/plain", text: TEXT.staticText }] }),
  );
  mcp.registerResource(
    "static-binary",
    URI.staticBinary,
    { title: "Static binary", description: "A fixed PNG image", mimeType: "image/png" },
    () => ({ contents: [{ uri: URI.staticBinary, mimeType: "image/png", blob: PNG_1X1_BASE64 }] }),
  );
  mcp.registerResource(
    "watched-resource",
    URI.watched,
    {
      title: "Watched resource",
      description: "A resource clients may subscribe to",
      mimeType: "text/plain",
    },
    () => ({ contents: [{ uri: URI.watched, mimeType: "text/plain", text: TEXT.watched }] }),
  );
  mcp.registerResource(
    "template",
    new ResourceTemplate(URI.template, { list: undefined }),
    {
      title: "Templated data",
      description: "JSON data for any id: test://template/{id}/data",
      mimeType: "application/json",
    },
    (uri, variables) => {
      const id = String(variables.id);
      return {
        contents: [
          {
            uri: uri.href,
            mimeType: "application/json",
            text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
          },
        ],
      };
    },
  );
  if (era === "legacy") {
    mcp.server.setRequestHandler("resources/subscribe", (request) => {
      state.subscriptions.add(request.params.uri);
      return {};
    });
    mcp.server.setRequestHandler("resources/unsubscribe", (request) => {
      state.subscriptions.delete(request.params.uri);
      return {};
    });
  }
}

const ARG1_SUGGESTIONS = ["paris", "park", "party", "test", "testing", "tests"];

function registerPrompts(mcp: McpServer, _era: Era): void {
  mcp.registerPrompt(
    "test_simple_prompt",
    { title: "Simple prompt", description: "A prompt without arguments" },
    (): GetPromptResult => ({
      messages: [{ role: "user", content: { type: "text", text: TEXT.simplePrompt } }],
    }),
  );
  mcp.registerPrompt(
    "test_prompt_with_arguments",
    {
      title: "Prompt with arguments",
      description: "A prompt with two required arguments (arg1 completes)",
      argsSchema: z.object({
        arg1: completable(z.string().describe("First test argument"), (value) =>
          ARG1_SUGGESTIONS.filter((candidate) => candidate.startsWith(value)),
        ),
        arg2: z.string().describe("Second test argument"),
      }),
    },
    ({ arg1, arg2 }): GetPromptResult => ({
      messages: [
        {
          role: "user",
          content: { type: "text", text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` },
        },
      ],
    }),
  );
  mcp.registerPrompt(
    "test_prompt_with_embedded_resource",
    {
      title: "Prompt with an embedded resource",
      description: "Embeds a text resource under the given URI",
      argsSchema: z.object({ resourceUri: z.string().describe("URI of the resource to embed") }),
    },
    ({ resourceUri }): GetPromptResult => ({
      messages: [
        {
          role: "user",
          content: {
            type: "resource",
            resource: { uri: resourceUri, mimeType: "text/plain", text: TEXT.promptEmbedded },
          },
        },
        { role: "user", content: { type: "text", text: TEXT.promptEmbeddedFollowUp } },
      ],
    }),
  );
  mcp.registerPrompt(
    "test_prompt_with_image",
    { title: "Prompt with an image", description: "Includes a PNG image" },
    (): GetPromptResult => ({
      messages: [
        { role: "user", content: { type: "image", data: PNG_1X1_BASE64, mimeType: "image/png" } },
        { role: "user", content: { type: "text", text: TEXT.promptImageFollowUp } },
      ],
    }),
  );
  mcp.registerPrompt(
    "test_input_required_result_prompt",
    {
      title: "Prompt that asks for context",
      description: "Asks the user for context (InputRequiredResult) before building its message",
    },
    (ctx) => {
      const round = gather(ctx, {
        user_context: {
          request: inputRequired.elicit({
            message: "What context should the prompt use?",
            requestedSchema: {
              type: "object",
              properties: { context: { type: "string" } },
              required: ["context"],
            },
          }),
          usable: (answer) => acceptedFields(answer, ["context"]) !== undefined,
        },
      });
      if ("ask" in round) return round.ask;
      const context = String(acceptedFields(round.answers.user_context, ["context"])!.context);
      return {
        messages: [
          { role: "user", content: { type: "text", text: `Use this context: ${context}` } },
        ],
      };
    },
  );
}
