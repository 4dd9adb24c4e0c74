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
  timeout_ms: positiveInt.optional(),
});
export type ToolEntry = z.infer<typeof ToolEntrySchema>;

const HttpUrlSchema = z.url({
  protocol: /^https?$/,
  error: "invalid URL: expected an http(s) URL",
});

export const ScopeSchema = z
  .strictObject({
    description: z.string().optional(),
    backend_url: HttpUrlSchema,
    timeout_ms: positiveInt.default(30_000),
    max_response_bytes: positiveInt.default(1_048_576),
    tools: z.array(ToolEntrySchema).min(1, "a scope needs at least one tool"),
  })
  .superRefine((scope, ctx) => {
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
  });
export type Scope = z.infer<typeof ScopeSchema>;

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
  }),
  scopes: z
    .record(ScopeNameSchema, ScopeSchema)
    .refine((scopes) => Object.keys(scopes).length > 0, {
      message: "at least one scope is required",
    }),
});
export type ToolsConfig = z.infer<typeof ToolsConfigSchema>;
