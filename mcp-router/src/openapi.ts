import type { ToolsConfig } from "../../config/src/tools-schema.ts";
import { GATEWAY_ERRORS } from "../../contract/src/errors.ts";
import { AUDIT_QUERY_DEFAULT_LIMIT, AUDIT_QUERY_MAX_LIMIT } from "../../store/src/audit-query.ts";
import { ADMIN_SCHEMAS, adminPaths } from "./admin-openapi.ts";

/** OpenAPI 3.1 description of the router's REST surface (the MCP endpoints are listed for reference). */
export function buildOpenApiDocument(tools: ToolsConfig, version: string): Record<string, unknown> {
  const scopes = Object.keys(tools.scopes);
  const errorBody = {
    type: "object",
    required: ["error", "request_id"],
    additionalProperties: false,
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        additionalProperties: false,
        properties: {
          code: {
            type: "string",
            description: "Stable GW_… code",
            enum: Object.keys(GATEWAY_ERRORS),
            examples: ["GW_UPSTREAM_TIMEOUT"],
          },
          message: {
            type: "string",
            description:
              "The code's fixed text or one the gateway wrote; never internal error text",
          },
        },
      },
      request_id: {
        type: "string",
        description: "The x-request-id header of the answer; audit rows carry it too",
      },
    },
  };
  const header = (name: string) => ({ $ref: `#/components/headers/${name}` });
  /** Every REST refusal: the Error body and x-request-id, plus the headers its status implies. */
  const errorResponse = (description: string, headers: string[] = []) => ({
    description,
    headers: Object.fromEntries(
      ["x-request-id", ...headers].map((name) => [name, header(name)] as const),
    ),
    content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } },
  });
  const unauthorized = errorResponse("Missing or invalid token", ["www-authenticate"]);
  const rateLimited = errorResponse("Rate limited", ["retry-after"]);
  const internal = errorResponse("Internal error");
  const unavailable = errorResponse("Audit or authorization unavailable");
  return {
    openapi: "3.1.0",
    info: {
      title: "MCP Gateway router",
      version,
      description:
        "REST endpoints of the MCP gateway router. MCP clients use the Streamable HTTP endpoints " +
        "`/{scope}/mcp` (alias `/{scope}/sse`); every endpoint except health, readiness, metrics " +
        "and docs needs a Bearer token (checked by ext-authz). Every REST error, including " +
        "ext-authz's refusals, is `{error: {code, message}, request_id}` with an x-request-id " +
        "header of the same value; other HTTP methods are answered 405 with Allow in that shape.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
      headers: {
        "x-request-id": {
          description: "The request id (also request_id in error bodies)",
          schema: { type: "string" },
        },
        "www-authenticate": {
          description: "Bearer challenge naming the resource metadata document (RFC 9728)",
          schema: { type: "string" },
        },
        allow: {
          description: "The methods the path accepts",
          schema: { type: "string" },
        },
        "retry-after": {
          description: "Seconds until the exhausted quota admits a request again",
          schema: { type: "integer", minimum: 1 },
        },
        "x-next-cursor": {
          description: "The cursor of the next (older) page; absent on the last page",
          schema: { type: "string" },
        },
      },
      schemas: {
        Error: errorBody,
        ...ADMIN_SCHEMAS,
        InvokeRequest: {
          type: "object",
          required: ["tool_name"],
          additionalProperties: false,
          properties: {
            tool_name: {
              type: "string",
              description: "`<scope>.<tool>`, or a bare tool name that only one scope lists",
              examples: ["calculator.exact_calculate"],
            },
            arguments: { type: "object", additionalProperties: true },
            async: {
              type: "boolean",
              description:
                "Run in the background: answered 202 with a job to poll at status_url. Refused " +
                "for tools whose task support is forbidden; required for tools that require it.",
            },
            ttl_ms: {
              type: "integer",
              minimum: 1,
              description:
                "Job lifetime in ms (async only); clamped to the configured maximum. The job and " +
                "its result are deleted after it.",
            },
          },
        },
        JobAccepted: {
          type: "object",
          required: ["job_id", "status_url", "status", "request_id", "tool_name", "expires_at"],
          properties: {
            job_id: { type: "string", description: "Unguessable; only its owner can read it" },
            status_url: { type: "string", examples: ["/mcp/jobs/3q2x…"] },
            status: { type: "string", const: "working" },
            request_id: { type: "string" },
            tool_name: { type: "string" },
            expires_at: { type: "string", format: "date-time" },
            poll_interval_ms: { type: "integer" },
          },
        },
        Job: {
          type: "object",
          required: ["job_id", "status", "tool_name", "created_at", "updated_at", "expires_at"],
          properties: {
            job_id: { type: "string" },
            status: {
              type: "string",
              enum: ["working", "input_required", "completed", "failed", "cancelled"],
            },
            status_message: { type: "string" },
            tool_name: { type: "string" },
            created_at: { type: "string", format: "date-time" },
            updated_at: { type: "string", format: "date-time" },
            expires_at: { type: "string", format: "date-time" },
            poll_interval_ms: { type: "integer", description: "Suggested polling interval" },
            is_error: { type: "boolean", description: "completed only: result.isError" },
            result: {
              type: "object",
              description: "completed only: the MCP CallToolResult, unchanged",
            },
            error: {
              type: "object",
              description: "failed only",
              required: ["code", "message"],
              properties: { code: { type: "string" }, message: { type: "string" } },
            },
          },
        },
        AuditEvent: {
          type: "object",
          description: "One row of the audit log (docs/audit.md describes every column)",
          required: ["id", "time", "request_id", "source", "kind", "roles", "outcome"],
          properties: {
            id: { type: "string", description: "int8 as a decimal string" },
            time: { type: "string", format: "date-time" },
            request_id: { type: "string" },
            source: { type: "string", enum: ["ext-authz", "router"] },
            kind: {
              type: "string",
              enum: ["decision", "invocation", "list", "task", "config", "admin"],
            },
            subject: { type: ["string", "null"] },
            tenant: { type: ["string", "null"] },
            roles: { type: "array", items: { type: "string" } },
            scope: { type: ["string", "null"] },
            method: { type: ["string", "null"] },
            tool: { type: ["string", "null"] },
            outcome: { type: "string", examples: ["ok", "denied", "rejected", "would_deny"] },
            reason: { type: ["string", "null"] },
            status: { type: ["integer", "null"] },
            latency_ms: { type: ["integer", "null"] },
            request_bytes: { type: ["integer", "null"] },
            response_bytes: { type: ["integer", "null"] },
            arguments_digest: { type: ["string", "null"] },
            arguments: { description: "Captured arguments, when the tool's capture allows" },
            task_id: { type: ["string", "null"] },
            policy_rule: {
              type: ["string", "null"],
              description:
                "The policy rule that refused the call, or the dry-run rule that would have",
            },
            trace_id: {
              type: ["string", "null"],
              description: "OpenTelemetry trace id; null when tracing was off",
            },
          },
        },
        AuditPage: {
          type: "object",
          required: ["events", "next_cursor"],
          additionalProperties: false,
          properties: {
            events: { type: "array", items: { $ref: "#/components/schemas/AuditEvent" } },
            next_cursor: {
              type: ["string", "null"],
              description: "Pass as `cursor` for the next (older) page; null on the last page",
            },
          },
        },
        InvokeResponse: {
          type: "object",
          required: ["request_id", "tool_name", "is_error", "result"],
          properties: {
            request_id: { type: "string" },
            tool_name: { type: "string" },
            is_error: {
              type: "boolean",
              description: "The tool reported a failure (result.isError)",
            },
            result: {
              type: "object",
              description: "The MCP CallToolResult, unchanged",
              properties: {
                content: { type: "array", items: { type: "object" } },
                structuredContent: {},
                isError: { type: "boolean" },
              },
            },
          },
        },
      },
    },
    paths: {
      "/mcp/invoke": {
        post: {
          summary: "Call one tool",
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            content: {
              "application/json": { schema: { $ref: "#/components/schemas/InvokeRequest" } },
            },
          },
          responses: {
            "200": {
              description: "The tool ran (check is_error)",
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/InvokeResponse" } },
              },
            },
            "202": {
              description: "async: the job was created; poll status_url (also in Location)",
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/JobAccepted" } },
              },
            },
            "400": errorResponse("Malformed body, ambiguous tool_name, bad arguments or async use"),
            "401": unauthorized,
            "403": errorResponse(
              "Tool not permitted, no access at all, Origin not allowed, or no valid verdict",
            ),
            "404": errorResponse("Unknown tool (also one that is disabled)"),
            "409": errorResponse("Tool definition changed and awaits approval"),
            "413": errorResponse("Body too large"),
            "415": errorResponse("Content-Type is not application/json"),
            "429": rateLimited,
            "500": internal,
            "502": errorResponse("Tool backend unavailable or invalid"),
            "503": unavailable,
            "504": errorResponse("Tool call timed out"),
          },
        },
      },
      "/mcp/jobs/{job_id}": {
        parameters: [
          {
            name: "job_id",
            in: "path",
            required: true,
            schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,128}$" },
          },
        ],
        get: {
          summary: "Status of a job; the result once it completed",
          description:
            "Another user's job id is answered exactly like a missing one (404). Expired jobs " +
            "are gone.",
          security: [{ bearer: [] }],
          responses: {
            "200": {
              description: "The job",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Job" } } },
            },
            "401": unauthorized,
            "403": errorResponse("No access to any tool, or Origin not allowed"),
            "404": errorResponse("No such job"),
            "429": rateLimited,
            "500": internal,
            "503": unavailable,
          },
        },
        delete: {
          summary: "Cancel a running job (aborts the tool call)",
          security: [{ bearer: [] }],
          responses: {
            "200": {
              description: "The cancelled job",
              content: { "application/json": { schema: { $ref: "#/components/schemas/Job" } } },
            },
            "401": unauthorized,
            "403": errorResponse("No access to any tool, or Origin not allowed"),
            "404": errorResponse("No such job"),
            "409": errorResponse("The job already finished"),
            "429": rateLimited,
            "500": internal,
            "503": unavailable,
          },
        },
      },
      "/{scope}/mcp": {
        parameters: [
          { name: "scope", in: "path", required: true, schema: { type: "string", enum: scopes } },
        ],
        post: {
          summary: "MCP Streamable HTTP endpoint (also at /{scope}/sse)",
          description:
            "One JSON-RPC message per POST. Revisions 2025-03-26, 2025-06-18, 2025-11-25 " +
            "(sessions via Mcp-Session-Id) and 2026-07-28 (stateless).",
          security: [{ bearer: [] }],
          requestBody: {
            required: true,
            content: { "application/json": { schema: { type: "object" } } },
          },
          responses: {
            "200": { description: "JSON-RPC response (application/json or text/event-stream)" },
            "202": { description: "Notification accepted" },
          },
        },
        delete: {
          summary: "End an MCP session (2025 revisions)",
          security: [{ bearer: [] }],
          responses: {
            "204": { description: "Session ended" },
            "404": { description: "Unknown session" },
          },
        },
      },
      "/admin/audit": {
        get: {
          summary: "Query the audit log (operators)",
          description:
            "Newest first, keyset-paginated. Only tokens with one of policy.yaml's " +
            "`operator_roles` get an answer (403 otherwise). Every query is audited itself " +
            "(kind `admin`). The same filters as `npm run audit -- query`; `format=csv` " +
            "answers the page as that command's CSV (every column), the next page's cursor in " +
            "x-next-cursor.",
          security: [{ bearer: [] }],
          parameters: [
            ...(["user", "tool", "scope", "outcome"] as const).map((name) => ({
              name,
              in: "query",
              required: false,
              description: `Exact ${name === "user" ? "subject" : name}`,
              schema: { type: "string" },
            })),
            ...(["since", "until"] as const).map((name) => ({
              name,
              in: "query",
              required: false,
              description:
                `${name === "since" ? "Inclusive" : "Exclusive"} time bound: ISO 8601, or a ` +
                "duration back from now (90s, 15m, 1h, 7d, 2w)",
              schema: { type: "string" },
            })),
            {
              name: "limit",
              in: "query",
              required: false,
              schema: {
                type: "integer",
                minimum: 1,
                maximum: AUDIT_QUERY_MAX_LIMIT,
                default: AUDIT_QUERY_DEFAULT_LIMIT,
              },
            },
            {
              name: "cursor",
              in: "query",
              required: false,
              description: "next_cursor of the previous page",
              schema: { type: "string" },
            },
            {
              name: "format",
              in: "query",
              required: false,
              description: "json (default) or csv",
              schema: { type: "string", enum: ["json", "csv"], default: "json" },
            },
          ],
          responses: {
            "200": {
              description: "A page of events",
              headers: {
                "x-request-id": header("x-request-id"),
                "x-next-cursor": header("x-next-cursor"),
              },
              content: {
                "application/json": { schema: { $ref: "#/components/schemas/AuditPage" } },
                "text/csv": { schema: { type: "string" } },
              },
            },
            "400": errorResponse("Unknown, repeated or invalid parameter"),
            "401": unauthorized,
            "403": errorResponse("Not an operator"),
            "405": errorResponse("Method not allowed", ["allow"]),
            "429": rateLimited,
            "500": internal,
            "503": unavailable,
          },
        },
      },
      ...adminPaths({ errorResponse, header, unauthorized, rateLimited, internal, unavailable }),
      "/console": {
        get: {
          summary: "The operators' console (static page; its data comes from /admin/*)",
          responses: { "200": { description: "text/html" } },
        },
      },
      "/health": {
        get: { summary: "Liveness", responses: { "200": { description: "The process is up" } } },
      },
      "/ready": {
        get: {
          summary: "Readiness: database, tool registry and ext-authz",
          responses: { "200": { description: "Ready" }, "503": { description: "Not ready" } },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics",
          responses: { "200": { description: "text/plain exposition format" } },
        },
      },
    },
  };
}
