/**
 * The operators' API (`/admin/*` besides /admin/audit) in the router's OpenAPI document
 * (openapi.ts): schemas of admin-wire.ts and one operation per endpoint.
 */

type Json = Record<string, unknown>;

export type AdminOpenApiParts = {
  errorResponse: (description: string, headers?: string[]) => Json;
  header: (name: string) => Json;
  unauthorized: Json;
  rateLimited: Json;
  internal: Json;
  unavailable: Json;
};

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string) => ({ type: [type, "null"] });
const numbers = (description: string, nullableItems = false) => ({
  type: "array",
  description,
  items: nullableItems ? nullable("number") : { type: "number" },
});

const traffic = {
  per_second: numbers("Requests per second in each interval"),
  error_rate: numbers("Share of answers that were errors (null: no traffic)", true),
  refusal_rate: numbers("Share of requests refused (null: no traffic)", true),
  totals: {
    type: "object",
    properties: {
      count: { type: "integer" },
      errors: { type: "integer" },
      refusals: { type: "integer" },
    },
  },
};

const rule = {
  type: "object",
  properties: {
    path: { type: "string", examples: ["roles.auditor.deny[5]"] },
    effect: { enum: ["allow", "deny"] },
    tools: { type: "string" },
    when: nullable("string"),
    mode: { enum: ["enforce", "dry_run"] },
  },
};

export const ADMIN_SCHEMAS: Json = {
  AdminOverview: {
    type: "object",
    description: "This router's metrics over the last 15 minutes, one value per 10 s interval",
    properties: {
      generated_at: { type: "string", format: "date-time" },
      window_seconds: { type: "integer" },
      interval_seconds: { type: "integer" },
      times: { type: "array", items: { type: "string", format: "date-time" } },
      requests: { type: "object", properties: traffic },
      scopes: {
        type: "array",
        items: {
          type: "object",
          description: "tools/call of one scope",
          properties: {
            scope: { type: "string" },
            ...traffic,
            p50_ms: numbers("Median latency per interval", true),
            p99_ms: numbers("99th percentile latency per interval", true),
            latency: {
              type: "object",
              properties: { p50_ms: nullable("number"), p99_ms: nullable("number") },
            },
          },
        },
      },
      backends: {
        type: "array",
        items: {
          type: "object",
          properties: {
            scope: { type: "string" },
            status: { enum: ["up", "stale", "down", "unknown"] },
            tools_served: { type: "integer" },
            listed_at: nullable("string"),
            backend_failures: { type: "integer" },
          },
        },
      },
      audit: {
        type: "object",
        properties: {
          mode: { enum: ["write-ahead", "best-effort"] },
          queued: nullable("integer"),
          waiting: nullable("integer"),
          lag_ms: { ...nullable("number"), description: "Age of the oldest queued row" },
          written_total: nullable("integer"),
          failed_total: nullable("integer"),
          rejected_total: nullable("integer"),
        },
      },
      in_flight: { type: "integer" },
    },
  },
  AdminTools: {
    type: "object",
    properties: {
      definition_changes: { enum: ["pin", "warn"] },
      scopes: {
        type: "array",
        items: {
          type: "object",
          properties: {
            scope: { type: "string" },
            description: nullable("string"),
            backend: { type: "string", description: "URL (no query) or stdio command" },
            tools: { type: "array", items: ref("AdminTool") },
          },
        },
      },
    },
  },
  AdminTool: {
    type: "object",
    properties: {
      scope: { type: "string" },
      name: { type: "string" },
      status: {
        enum: ["active", "inactive", "disabled", "pinned_definition_changed", "definition_changed"],
      },
      configured: {
        type: "boolean",
        description: "Listed in tools.yaml, or discovered in a scope that says tools: discover",
      },
      source: {
        enum: ["config", "discovered"],
        description: "How the tool entered the registry",
      },
      enabled: { type: "boolean" },
      served: { type: "boolean" },
      callable: { type: "boolean" },
      description: nullable("string"),
      approved_digest: nullable("string"),
      first_seen_at: nullable("string"),
      last_seen_at: nullable("string"),
      deactivated_at: nullable("string"),
      change: {
        oneOf: [{ type: "null" }, ref("DefinitionChange")],
      },
    },
  },
  DefinitionChange: {
    type: "object",
    properties: {
      approved_digest: { type: "string" },
      observed_digest: { type: "string" },
      changed_at: nullable("string"),
      policy: { enum: ["pin", "warn"] },
      kept: {
        oneOf: [
          { type: "null" },
          {
            type: "object",
            properties: { by: nullable("string"), at: { type: "string", format: "date-time" } },
          },
        ],
      },
      diff: {
        type: ["array", "null"],
        items: {
          type: "object",
          properties: { op: { enum: ["=", "-", "+"] }, text: { type: "string" } },
        },
      },
      diff_unavailable: nullable("string"),
    },
  },
  ToolActionRequest: {
    type: "object",
    additionalProperties: false,
    properties: {
      observed_digest: {
        type: "string",
        pattern: "^[0-9a-f]{64}$",
        description: "The changed definition reviewed; refused 409 if the backend changed again",
      },
    },
  },
  ToolActionResult: {
    type: "object",
    properties: {
      scope: { type: "string" },
      tool: { type: "string" },
      action: { enum: ["approve", "keep"] },
      approved_digest: { type: "string", description: "The approved digest before the action" },
      observed_digest: { type: "string" },
    },
  },
  AdminPolicy: {
    type: "object",
    properties: {
      roles: {
        type: "array",
        items: {
          type: "object",
          properties: {
            name: { type: "string" },
            description: nullable("string"),
            operator: { type: "boolean" },
          },
        },
      },
      tools: {
        type: "array",
        items: {
          type: "object",
          properties: {
            tool: { type: "string" },
            active: { type: "boolean" },
            cells: {
              type: "object",
              description: "One cell per role name",
              additionalProperties: {
                type: "object",
                properties: {
                  decision: { enum: ["allow", "deny", "conditional"] },
                  dry_run_deny: { type: "boolean" },
                  conditions: {
                    type: "array",
                    items: {
                      type: "object",
                      properties: { rule: { type: "string" }, when: { type: "string" } },
                    },
                  },
                },
              },
            },
          },
        },
      },
      operator_roles: { type: "array", items: { type: "string" } },
    },
  },
  ExplainRequest: {
    type: "object",
    required: ["tool"],
    additionalProperties: false,
    description: "Give roles, or claims with a roles claim",
    properties: {
      tool: { type: "string", description: "scope.tool, or a bare name one scope defines" },
      roles: { type: "array", items: { type: "string" }, maxItems: 64 },
      claims: { type: "object", description: "Token claims as conditions see them" },
      arguments: { type: "object", description: "tools/call arguments (default {})" },
      headers: {
        type: "object",
        additionalProperties: { type: "string" },
        description: "Request headers; conditions see those condition_headers lists",
      },
    },
  },
  Explanation: {
    type: "object",
    properties: {
      tool: { type: "string" },
      scope: nullable("string"),
      roles: { type: "array", items: { type: "string" } },
      unknown_roles: { type: "array", items: { type: "string" } },
      claims: { type: "object" },
      arguments: { type: "object" },
      arguments_given: { type: "boolean" },
      decision: { enum: ["allowed", "denied", "unknown_tool", "inactive"] },
      rule: { oneOf: [{ type: "null" }, rule] },
      condition_error: nullable("string"),
      would_deny: { type: "array", items: rule },
      listed: { type: "boolean", description: "Whether tools/list shows the tool to these roles" },
    },
  },
  AdminLimits: {
    type: "object",
    properties: {
      available: { type: "boolean" },
      reason: nullable("string"),
      taken_at: nullable("string"),
      store: { enum: ["memory", "redis", null] },
      degraded: { type: "boolean", description: "Redis unusable: per-replica counters decide" },
      tracked: { type: "integer" },
      counters: {
        type: "array",
        description: "Busiest first, up to 25 of each kind",
        items: {
          type: "object",
          properties: {
            kind: { enum: ["user", "tool", "user_tool"] },
            tenant: nullable("string"),
            user: nullable("string"),
            tool: nullable("string"),
            used: { type: "integer" },
            limit: { type: "integer" },
            share: { type: "number", minimum: 0, maximum: 1 },
            window_seconds: { type: "integer" },
            reset_in_ms: { type: "integer" },
          },
        },
      },
    },
  },
};

export function adminPaths(parts: AdminOpenApiParts): Json {
  const { errorResponse, header } = parts;
  const refusals = {
    "401": parts.unauthorized,
    "403": errorResponse("Not an operator, or Origin not allowed"),
    "405": errorResponse("Method not allowed", ["allow"]),
    "429": parts.rateLimited,
    "500": parts.internal,
    "503": parts.unavailable,
  };
  const ok = (description: string, schema: string) => ({
    description,
    headers: { "x-request-id": header("x-request-id") },
    content: { "application/json": { schema: ref(schema) } },
  });
  const read = (summary: string, description: string, schema: string) => ({
    get: {
      summary,
      description: `${description} Operators only; audited (kind \`admin\`).`,
      security: [{ bearer: [] }],
      responses: {
        "200": ok(summary, schema),
        "400": errorResponse("A query parameter (this endpoint takes none)"),
        ...refusals,
      },
    },
  });
  const postRefusals = {
    "400": errorResponse("Invalid JSON body or path parameter"),
    "413": errorResponse("Body over 64 KiB"),
    "415": errorResponse("Not application/json"),
  };
  return {
    "/admin/overview": read(
      "Traffic, latency, backends and the audit queue",
      "The last 15 minutes of this router's own metrics.",
      "AdminOverview",
    ),
    "/admin/tools": read(
      "Every scope and tool with its status",
      "tools.yaml, the tool registry and what this router serves; a changed definition with its diff.",
      "AdminTools",
    ),
    "/admin/tools/{scope}/{tool}/{action}": {
      parameters: [
        { name: "scope", in: "path", required: true, schema: { type: "string" } },
        { name: "tool", in: "path", required: true, schema: { type: "string" } },
        {
          name: "action",
          in: "path",
          required: true,
          schema: { enum: ["approve", "keep"] },
          description:
            "approve: the changed definition becomes the approved one (npm run approve-tool); " +
            "keep: the approved definition stays, the review is recorded",
        },
      ],
      post: {
        summary: "Approve a tool's changed definition, or keep it pinned",
        description:
          "Operators only; audited with the operator's identity. Cross-site requests are refused.",
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref("ToolActionRequest") } },
        },
        responses: {
          "200": ok("Done", "ToolActionResult"),
          ...postRefusals,
          "404": errorResponse("No such tool in the registry"),
          "409": errorResponse("No change pending, or the backend changed it again"),
          ...refusals,
        },
      },
    },
    "/admin/policy": read(
      "The roles × tools matrix of the running policy",
      "Computed by ext-authz on the policy it decides with; conditional cells name their conditions.",
      "AdminPolicy",
    ),
    "/admin/policy/explain": {
      post: {
        summary: "Explain one call: decision and deciding rule",
        description:
          "Decided by ext-authz on its running policy, as `npm run policy -- explain`. Operators only; audited.",
        security: [{ bearer: [] }],
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref("ExplainRequest") } },
        },
        responses: {
          "200": ok("The explanation", "Explanation"),
          ...postRefusals,
          ...refusals,
        },
      },
    },
    "/admin/limits": read(
      "The busiest rate-limit counters",
      "Per user, per tool and per user and tool, as ext-authz's limiter holds them.",
      "AdminLimits",
    ),
  };
}
