import { deflateRawSync, inflateRawSync } from "node:zlib";
import { z } from "zod";
import { hmacSha256, macEqual } from "./digest.ts";

/**
 * `x-gateway-admin-view`: what only ext-authz knows, for the operators' API the router serves.
 * ext-authz holds the rate-limit counters (memory, or Redis behind its insurance limiter) and
 * decides with its own compiled policy.yaml; the one channel every deployment has between
 * ext-authz and the router is the Check. So when ext-authz allows an operator's
 * `GET /admin/limits`, `GET /admin/policy` or `POST /admin/policy/explain`, it adds this header
 * beside the verdict, and the router answers from it (after its own checks, and audited).
 *
 * Wire form `v1.<kind>.<base64url(deflate-raw(JSON))>.<hex HMAC-SHA256(GATEWAY_VERDICT_KEY,
 * "admin-view/v1\n" + request id + "\n" + kind + "\n" + payload)>`: bound to the request whose
 * verdict the router verified, so it can be neither forged by a client nor moved to another
 * request or endpoint. It must stay a header: Node's HTTP server takes 16 KiB of headers in all,
 * so a view is at most ADMIN_VIEW_MAX_HEADER_BYTES (the limits view is trimmed to fit; a policy
 * matrix too large for it is reported as unavailable, and `npm run policy -- matrix` shows it).
 */
export const ADMIN_VIEW_HEADER = "x-gateway-admin-view";
export const ADMIN_VIEW_MAX_HEADER_BYTES = 8192;

export const ADMIN_VIEW_KINDS = ["limits", "policy", "explain"] as const;
export type AdminViewKind = (typeof ADMIN_VIEW_KINDS)[number];

/** The endpoint (and method) each view answers. */
export const ADMIN_VIEW_ROUTES: Readonly<Record<AdminViewKind, { method: string; path: string }>> =
  {
    limits: { method: "GET", path: "/admin/limits" },
    policy: { method: "GET", path: "/admin/policy" },
    explain: { method: "POST", path: "/admin/policy/explain" },
  };

const count = z.number().int().min(0);

export const QuotaUsageCounterSchema = z.strictObject({
  kind: z.enum(["user", "tool", "user_tool"]),
  /** The counter key: `tenant/subject`, `scope.tool` or `tenant/subject/scope.tool` (parts URI-encoded). */
  key: z.string().max(2048),
  used: count,
  limit: count,
  window_seconds: count,
  reset_in_ms: count,
});
export type QuotaUsageCounter = z.infer<typeof QuotaUsageCounterSchema>;

export const QuotaUsageSnapshotSchema = z.strictObject({
  /** When ext-authz read the counters (ISO 8601). */
  taken_at: z.string(),
  /** Where the counts come from: Redis (every replica's spends) or this replica's memory. */
  store: z.enum(["memory", "redis"]),
  /** Redis is configured but unusable: this replica's insurance counters decide. */
  degraded: z.boolean(),
  /** Live counters the answering ext-authz replica knows of (only the busiest are listed). */
  tracked: count,
  counters: z.array(QuotaUsageCounterSchema),
});
export type QuotaUsageSnapshot = z.infer<typeof QuotaUsageSnapshotSchema>;

/**
 * The roles × tools matrix, compact (it travels in a header): one character per role in
 * `cells` — `a` allow, `d` deny, `c` conditional, upper case when a dry-run deny also matches —
 * and for conditional cells the indexes of the rules (in `rules`) whose conditions decide.
 */
export const PolicyViewSchema = z.strictObject({
  roles: z.array(z.strictObject({ name: z.string(), description: z.string().nullable() })),
  operator_roles: z.array(z.string()),
  rules: z.array(z.strictObject({ path: z.string(), when: z.string() })),
  tools: z.array(
    z.strictObject({
      tool: z.string(),
      active: z.boolean(),
      cells: z.string().regex(/^[adcADC]*$/),
      /** [role index, rule index, …] for each conditional cell. */
      conditions: z.array(z.array(count).min(2)),
    }),
  ),
});
export type PolicyView = z.infer<typeof PolicyViewSchema>;

/** `POST /admin/policy/explain`'s body: what `npm run policy -- explain` takes as options. */
export const ExplainRequestSchema = z
  .strictObject({
    /** `scope.tool`, or a bare name exactly one scope defines. */
    tool: z.string().min(1, "name a tool").max(300),
    /** Role names; when absent, the `roles` claim of `claims`. */
    roles: z.array(z.string().min(1).max(128)).max(64).optional(),
    /** The token's claims as conditions see them (`sub`, `tenant`, `roles`, anything else). */
    claims: z.record(z.string().max(256), z.unknown()).optional(),
    /** The tools/call arguments; absent: a call with `{}`. */
    arguments: z.record(z.string().max(256), z.unknown()).optional(),
    /** Request headers (conditions see only those policy.yaml's `condition_headers` lists). */
    headers: z.record(z.string().min(1).max(128), z.string().max(8192)).optional(),
  })
  .refine((body) => body.roles !== undefined || body.claims?.roles !== undefined, {
    message: "give roles, or a roles claim in claims",
    path: ["roles"],
  });
export type ExplainRequest = z.infer<typeof ExplainRequestSchema>;

const RuleSchema = z.strictObject({
  path: z.string(),
  effect: z.enum(["allow", "deny"]),
  tools: z.string(),
  when: z.string().nullable(),
  mode: z.enum(["enforce", "dry_run"]),
});

/** The explanation, without the claims and arguments (the router has them: it got the body). */
export const ExplainViewSchema = z.discriminatedUnion("ok", [
  z.strictObject({
    ok: z.literal(true),
    tool: z.string(),
    scope: z.string().nullable(),
    roles: z.array(z.string()),
    unknown_roles: z.array(z.string()),
    arguments_given: z.boolean(),
    decision: z.enum(["allowed", "denied", "unknown_tool", "inactive"]),
    rule: RuleSchema.nullable(),
    condition_error: z.string().nullable(),
    would_deny: z.array(RuleSchema),
    listed: z.boolean(),
  }),
  /** The request could not be explained (an ambiguous tool name, a malformed roles claim). */
  z.strictObject({ ok: z.literal(false), error: z.string() }),
]);
export type ExplainView = z.infer<typeof ExplainViewSchema>;

/** A view ext-authz could not give (reading Redis failed, the matrix is too large, …). */
const UnavailableSchema = z.strictObject({ unavailable: z.string() });

const VIEW_SCHEMAS = {
  limits: z.union([z.strictObject({ limits: QuotaUsageSnapshotSchema }), UnavailableSchema]),
  policy: z.union([z.strictObject({ policy: PolicyViewSchema }), UnavailableSchema]),
  explain: z.union([z.strictObject({ explain: ExplainViewSchema }), UnavailableSchema]),
} as const;

export type AdminViewPayload<K extends AdminViewKind> = z.infer<(typeof VIEW_SCHEMAS)[K]>;

const HEADER_RE = /^v1\.(limits|policy|explain)\.([A-Za-z0-9_-]{1,16384})\.([0-9a-f]{64})$/;

function mac(key: string, requestId: string, kind: AdminViewKind, payload: string): string {
  return hmacSha256(key, `admin-view/v1\n${requestId}\n${kind}\n${payload}`).toString("hex");
}

/** The header for a view, or undefined when it would exceed ADMIN_VIEW_MAX_HEADER_BYTES. */
export function signAdminView<K extends AdminViewKind>(
  kind: K,
  payload: AdminViewPayload<K>,
  key: string,
  requestId: string,
): string | undefined {
  const encoded = deflateRawSync(Buffer.from(JSON.stringify(payload), "utf8")).toString(
    "base64url",
  );
  const header = `v1.${kind}.${encoded}.${mac(key, requestId, kind, encoded)}`;
  return header.length <= ADMIN_VIEW_MAX_HEADER_BYTES ? header : undefined;
}

export type AdminViewCheck<K extends AdminViewKind> =
  | { ok: true; payload: AdminViewPayload<K> }
  | { ok: false; reason: "missing" | "malformed" | "bad_signature" | "wrong_kind" };

/** Verifies a view against the request id of the verdict it came with, then decodes it. */
export function verifyAdminView<K extends AdminViewKind>(
  header: string | undefined,
  kind: K,
  key: string,
  requestId: string,
): AdminViewCheck<K> {
  if (header === undefined || header === "") return { ok: false, reason: "missing" };
  const match = HEADER_RE.exec(header);
  if (match === null) return { ok: false, reason: "malformed" };
  const [, sentKind = "", payload = "", signature = ""] = match;
  if (sentKind !== kind) return { ok: false, reason: "wrong_kind" };
  if (!macEqual(signature, mac(key, requestId, kind, payload))) {
    return { ok: false, reason: "bad_signature" };
  }
  let decoded: unknown;
  try {
    // Signed by ext-authz, and still bounded: a header never inflates into a large allocation.
    const json = inflateRawSync(Buffer.from(payload, "base64url"), { maxOutputLength: 1 << 20 });
    decoded = JSON.parse(json.toString("utf8"));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const parsed = VIEW_SCHEMAS[kind].safeParse(decoded);
  return parsed.success
    ? { ok: true, payload: parsed.data as AdminViewPayload<K> }
    : { ok: false, reason: "malformed" };
}
