import { z } from "zod";
import { DurationSchema, parseDuration } from "./duration.ts";
import { ToolPatternSchema } from "./tool-pattern.ts";

export const ROLE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;

export const RoleNameSchema = z
  .string()
  .regex(
    ROLE_NAME_RE,
    "invalid role name: expected 1-128 characters of A-Z a-z 0-9 _ . : - (not starting with a symbol)",
  );

export const RoleSchema = z.strictObject({
  description: z.string().optional(),
  allow: z.array(ToolPatternSchema).default([]),
  deny: z.array(ToolPatternSchema).default([]),
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
  deny: z.array(ToolPatternSchema).default([]),
  quotas: QuotasSchema,
  protected_resource: ProtectedResourceSchema,
});
export type PolicyConfig = z.infer<typeof PolicyConfigSchema>;
