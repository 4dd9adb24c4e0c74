import { z } from "zod";
import { SCOPE_NAME_RE, TOOL_NAME_RE } from "./tool-pattern.ts";

/** Path segments the gateway itself serves; a scope with one of these names would shadow them. */
export const RESERVED_SCOPE_NAMES: readonly string[] = [
  "mcp",
  "sse",
  "messages",
  "health",
  "ready",
  "metrics",
  // The operators' API (/admin/audit) and its verdict scope.
  "admin",
];

export const ScopeNameSchema = z
  .string()
  .regex(SCOPE_NAME_RE, "invalid scope name: expected [a-z][a-z0-9_-]{0,31}")
  .refine((name) => !RESERVED_SCOPE_NAMES.includes(name), {
    message: `reserved scope name (reserved: ${RESERVED_SCOPE_NAMES.join(", ")})`,
  });

export const ToolNameSchema = z
  .string()
  .regex(TOOL_NAME_RE, "invalid tool name: expected 1-128 characters of A-Z a-z 0-9 _ - .");

export const TaskSupportSchema = z.enum(["forbidden", "optional", "required"]);
export type TaskSupport = z.infer<typeof TaskSupportSchema>;

const positiveInt = z.number().int().positive();

export const ToolEntrySchema = z.strictObject({
  name: ToolNameSchema,
  enabled: z.boolean().default(true),
  task_support: TaskSupportSchema.optional(),
  /**
   * MCP servers spoken to at 2025-11-25 or earlier: the tool asks for input before its work
   * begins, so a 2026-07-28 client is asked synchronously (InputRequiredResult of tools/call) and
   * given the task only once it has answered (SEP-2663 with SEP-2322).
   */
  input_before_task: z.boolean().optional(),
  timeout_ms: positiveInt.optional(),
});
export type ToolEntry = z.infer<typeof ToolEntrySchema>;

const HttpUrlSchema = z.url({
  protocol: /^https?$/,
  error: "invalid URL: expected an http(s) URL",
});

/** A secret the router reads from its own environment when it needs it: never written in YAML. */
export const SecretRefSchema = z.strictObject({
  from_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, "invalid environment variable name"),
});
export type SecretRef = z.infer<typeof SecretRefSchema>;
/** A literal value, or a secret from the router's environment. */
export const ConfigValueSchema = z.union([z.string(), SecretRefSchema]);
export type ConfigValue = z.infer<typeof ConfigValueSchema>;

/** Headers the gateway sets itself on an upstream request; a backend's `headers` may not. */
export const RESERVED_UPSTREAM_HEADERS: readonly string[] = [
  "host",
  "content-type",
  "content-length",
  "accept",
  "connection",
  "transfer-encoding",
  "mcp-session-id",
  "mcp-protocol-version",
  "last-event-id",
  "x-gateway-auth",
  "x-user-id",
];

const UpstreamHeaderNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/, "invalid header name")
  .refine((name) => !RESERVED_UPSTREAM_HEADERS.includes(name.toLowerCase()), {
    message: `header set by the gateway itself (${RESERVED_UPSTREAM_HEADERS.join(", ")})`,
  });

/**
 * Upstream revisions the router can speak to an MCP server over Streamable HTTP: the 2025
 * revisions with initialize and a session per user, or 2026-07-28 without sessions.
 */
export const UPSTREAM_MCP_VERSIONS = [
  "2025-03-26",
  "2025-06-18",
  "2025-11-25",
  "2026-07-28",
] as const;

export const OAuthClientCredentialsSchema = z.strictObject({
  type: z.literal("oauth_client_credentials"),
  token_url: z.url({ protocol: /^https?$/, error: "invalid URL: expected an http(s) URL" }),
  client_id: z.string().min(1),
  client_secret: SecretRefSchema,
  scope: z.string().min(1).optional(),
  /** RFC 8707 resource indicator, for servers that ask for one. */
  resource: z.string().min(1).optional(),
});
export type OAuthClientCredentials = z.infer<typeof OAuthClientCredentialsSchema>;

export const StreamableHttpServerSchema = z.strictObject({
  transport: z.literal("streamable-http"),
  /** The server's MCP endpoint, exactly as it is called (e.g. https://mcp.example.com/mcp). */
  url: z.url({ protocol: /^https?$/, error: "invalid URL: expected an http(s) URL" }),
  headers: z.record(UpstreamHeaderNameSchema, ConfigValueSchema).default({}),
  auth: OAuthClientCredentialsSchema.optional(),
  protocol_version: z.enum(UPSTREAM_MCP_VERSIONS).default("2025-11-25"),
  sessions: z
    .strictObject({
      /** A user's upstream session is ended after this long without a request. */
      idle_timeout_ms: positiveInt.default(600_000),
      /** Upstream sessions open at once (one per user); the least recently used gives way. */
      max: positiveInt.default(1000),
    })
    .default({ idle_timeout_ms: 600_000, max: 1000 }),
});

export const StdioServerSchema = z.strictObject({
  transport: z.literal("stdio"),
  command: z.string().min(1, "empty command"),
  args: z.array(z.string()).default([]),
  /** The process's whole environment besides PATH/HOME and a few safe variables. */
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "invalid variable name"),
      ConfigValueSchema,
    )
    .default({}),
  cwd: z.string().min(1).optional(),
  processes: z
    .strictObject({
      /**
       * `user`: one process per user, so no state is shared between users. `scope`: one process
       * for everyone, for servers without per-user state (their log messages cannot be told
       * apart and are not relayed).
       */
      per: z.enum(["user", "scope"]).default("user"),
      max: positiveInt.default(32),
      idle_timeout_ms: positiveInt.default(600_000),
    })
    .default({ per: "user", max: 32, idle_timeout_ms: 600_000 }),
});

/** A standard MCP server behind the gateway (docs/backends.md). */
export const McpServerSchema = z.discriminatedUnion("transport", [
  StreamableHttpServerSchema,
  StdioServerSchema,
]);
export type McpServerConfig = z.infer<typeof McpServerSchema>;
export type StreamableHttpServerConfig = z.infer<typeof StreamableHttpServerSchema>;
export type StdioServerConfig = z.infer<typeof StdioServerSchema>;

export const ScopeSchema = z
  .strictObject({
    description: z.string().optional(),
    /** A gateway tool server (stateless POST {backend_url}/mcp with X-Gateway-Auth). */
    backend_url: HttpUrlSchema.optional(),
    /** Or a standard MCP server, over Streamable HTTP or stdio. */
    mcp_server: McpServerSchema.optional(),
    timeout_ms: positiveInt.default(30_000),
    max_response_bytes: positiveInt.default(1_048_576),
    /**
     * The tools clients may see, or `discover`: every tool the backend lists (recorded in the
     * registry as discovered), policy still deciding who may use which.
     */
    tools: z.union([
      z.literal("discover"),
      z.array(ToolEntrySchema).min(1, "a scope needs at least one tool"),
    ]),
  })
  .superRefine((scope, ctx) => {
    if ((scope.backend_url === undefined) === (scope.mcp_server === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [scope.backend_url === undefined ? "backend_url" : "mcp_server"],
        message: "a scope needs exactly one backend: backend_url or mcp_server",
      });
    }
    if (scope.tools === "discover") return;
    if (scope.mcp_server === undefined) {
      scope.tools.forEach((tool, index) => {
        if (tool.input_before_task === undefined) return;
        ctx.addIssue({
          code: "custom",
          path: ["tools", index, "input_before_task"],
          message: "input_before_task applies to tools of an mcp_server scope only",
        });
      });
    }
    const firstIndex = new Map<string, number>();
    scope.tools.forEach((tool, index) => {
      const previous = firstIndex.get(tool.name);
      if (previous === undefined) {
        firstIndex.set(tool.name, index);
        return;
      }
      ctx.addIssue({
        code: "custom",
        path: ["tools", index, "name"],
        message: `duplicate tool "${tool.name}" (first listed at tools[${previous}])`,
      });
    });
  })
  // Loaded, a discovering scope lists no tools of its own and says `discover: true`.
  .transform(({ tools, ...scope }): typeof scope & { tools: ToolEntry[]; discover?: true } =>
    tools === "discover" ? { ...scope, tools: [], discover: true } : { ...scope, tools },
  );
export type Scope = z.infer<typeof ScopeSchema>;

/**
 * A tool's settings in its scope: its tools.yaml entry, or for a discovering scope the defaults
 * every discovered tool gets. Undefined for a tool the scope cannot have.
 */
export function toolEntry(scope: Scope | undefined, name: string): ToolEntry | undefined {
  if (scope === undefined) return undefined;
  const listed = scope.tools.find((tool) => tool.name === name);
  if (listed !== undefined || scope.discover !== true || !TOOL_NAME_RE.test(name)) return listed;
  return { name, enabled: true };
}

export const DefinitionChangesSchema = z.enum(["pin", "warn"]);
export const ArgumentCaptureSchema = z.enum(["none", "digest", "full"]);
export type ArgumentCapture = z.infer<typeof ArgumentCaptureSchema>;

export const AuditConfigSchema = z.strictObject({
  arguments: ArgumentCaptureSchema.default("digest"),
  redact_keys: z
    .array(z.string().min(1))
    .default(["password", "secret", "token", "api_key", "authorization"]),
});

export const TasksConfigSchema = z
  .strictObject({
    default_ttl_ms: positiveInt.default(3_600_000),
    max_ttl_ms: positiveInt.default(86_400_000),
    max_result_bytes: positiveInt.default(4_194_304),
    poll_interval_ms: positiveInt.default(1000),
    /** Longest a task's backend call may run, however long the task itself is kept. */
    max_run_ms: positiveInt.default(900_000),
    /**
     * A task call that may gather input first (docs/backends.md) waits this long for the
     * server's first move before the gateway announces the task.
     */
    input_window_ms: z.number().int().min(0).max(60_000).default(1000),
  })
  .refine((tasks) => tasks.default_ttl_ms <= tasks.max_ttl_ms, {
    path: ["default_ttl_ms"],
    message: "default_ttl_ms must not exceed max_ttl_ms",
  });

export const ToolsConfigSchema = z.strictObject({
  version: z.literal(1),
  definition_changes: DefinitionChangesSchema.default("pin"),
  audit: AuditConfigSchema.default({
    arguments: "digest",
    redact_keys: ["password", "secret", "token", "api_key", "authorization"],
  }),
  tasks: TasksConfigSchema.default({
    default_ttl_ms: 3_600_000,
    max_ttl_ms: 86_400_000,
    max_result_bytes: 4_194_304,
    poll_interval_ms: 1000,
    max_run_ms: 900_000,
    input_window_ms: 1000,
  }),
  scopes: z
    .record(ScopeNameSchema, ScopeSchema)
    .refine((scopes) => Object.keys(scopes).length > 0, {
      message: "at least one scope is required",
    }),
});
export type ToolsConfig = z.infer<typeof ToolsConfigSchema>;
