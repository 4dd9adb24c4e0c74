import { z } from "zod";
import { DurationSchema, parseDuration } from "./duration.ts";
import { compileCondition, ConditionError } from "./policy-condition.ts";
import { ToolPatternSchema } from "./tool-pattern.ts";

/** Never visible to a condition. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "proxy-authorization",
  "cookie",
  "x-gateway-auth",
]);

export const ROLE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export const RoleNameSchema = z
  .string()
  .regex(
    ROLE_NAME_RE,
    "invalid role name: expected 1-128 characters of A-Z a-z 0-9 _ . : - (not starting with a symbol)",
  );

/** A CEL expression, compiled here so a mistake is reported with its place in policy.yaml. */
const ConditionSchema = z.string().superRefine((source, context) => {
  try {
    compileCondition(source);
  } catch (error) {
    if (!(error instanceof ConditionError)) throw error;
    context.addIssue({ code: "custom", message: error.message });
  }
});

/**
 * One rule: a tool pattern, or a pattern with a condition. `mode: dry_run` (deny rules only) is
 * evaluated, logged, counted and audited as "would deny", never enforced.
 */
const ConditionalRuleSchema = z.strictObject({
  tools: ToolPatternSchema,
  when: ConditionSchema.optional(),
  mode: z.enum(["enforce", "dry_run"]).default("enforce"),
  description: z.string().optional(),
});
export type ConditionalRule = z.infer<typeof ConditionalRuleSchema>;

/**
 * A pattern string or a conditional rule, chosen by the value's type so that a mistake is
 * reported against the form that was meant (a union would only say "Invalid input").
 */
function ruleSchema(conditional: z.ZodType<ConditionalRule>) {
  return z.unknown().transform((value, context): string | ConditionalRule => {
    const schema = typeof value === "string" ? ToolPatternSchema : conditional;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      context.addIssue({ ...issue, input: value } as Parameters<typeof context.addIssue>[0]);
    }
    return z.NEVER;
  });
}

const AllowRuleSchema = ruleSchema(
  ConditionalRuleSchema.refine((rule) => rule.mode !== "dry_run", {
    path: ["mode"],
    message: "mode: dry_run applies to deny rules only",
  }),
);
const DenyRuleSchema = ruleSchema(ConditionalRuleSchema);
export type PolicyRule = z.infer<typeof DenyRuleSchema>;

export function rulePattern(rule: PolicyRule): string {
  return typeof rule === "string" ? rule : rule.tools;
}

export const RoleSchema = z.strictObject({
  description: z.string().optional(),
  allow: z.array(AllowRuleSchema).default([]),
  deny: z.array(DenyRuleSchema).default([]),
});
export type Role = z.infer<typeof RoleSchema>;

/** `duration` is kept as written; `duration_ms` is the parsed value every consumer should use. */
export const QuotaSchema = z
  .strictObject({
    points: z.number().int().positive(),
    duration: DurationSchema,
  })
  .transform((quota) => ({ ...quota, duration_ms: parseDuration(quota.duration) ?? 0 }));
export type Quota = z.infer<typeof QuotaSchema>;

export const QuotasSchema = z.strictObject({
  per_user: z.strictObject({
    default: QuotaSchema,
    roles: z.record(z.string(), QuotaSchema).default({}),
  }),
  per_tool: z.strictObject({
    default: QuotaSchema,
    tools: z.record(z.string(), QuotaSchema).default({}),
  }),
  per_user_tool: z.strictObject({
    default: QuotaSchema,
    tools: z.record(z.string(), QuotaSchema).default({}),
  }),
});
export type Quotas = z.infer<typeof QuotasSchema>;

export const ProtectedResourceSchema = z.strictObject({
  resource_base_url: z.url({ protocol: /^https?$/, error: "invalid URL: expected an http(s) URL" }),
  authorization_servers: z
    .array(z.url({ protocol: /^https?$/, error: "invalid URL: expected an http(s) URL" }))
    .min(1, "at least one authorization server is required"),
});
export type ProtectedResource = z.infer<typeof ProtectedResourceSchema>;

export const PolicyConfigSchema = z.strictObject({
  version: z.literal(1),
  roles: z.record(RoleNameSchema, RoleSchema),
  deny: z.array(DenyRuleSchema).default([]),
  /**
   * Request headers a condition may read as `request.headers` (lower-case names). Credentials
   * are never exposed, whatever is listed.
   */
  condition_headers: z
    .array(
      z
        .string()
        .regex(
          /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/,
          "invalid header name: expected a lower-case token",
        )
        .refine((name) => !CREDENTIAL_HEADERS.has(name), {
          message: "credential headers cannot be exposed to conditions",
        }),
    )
    .default(["user-agent", "mcp-protocol-version"]),
  quotas: QuotasSchema,
  protected_resource: ProtectedResourceSchema,
  /** Roles whose tokens may use the operators' endpoints (`GET /admin/audit`); none by default. */
  operator_roles: z.array(RoleNameSchema).default([]),
});
export type PolicyConfig = z.infer<typeof PolicyConfigSchema>;
