import type { Logger } from "../../contract/src/log.ts";
import type { GatewayConfig } from "../../config/src/load-config.ts";
import type { AuditSink } from "./audit.ts";
import type { Authorizer } from "./authorization.ts";
import type { InFlightCalls } from "./in-flight.ts";
import type { ToolInvoker } from "./invoke-tool.ts";
import type { RouterMetrics } from "./metrics.ts";
import type { InputRounds } from "./input-rounds.ts";
import type { ListenStreams } from "./listen-streams.ts";
import type { SseStreams } from "./sse-streams.ts";
import type { ServerRequests } from "./server-requests.ts";
import type { SessionCodec, SessionRevocations } from "./session.ts";
import type { TaskService } from "./tasks/task-service.ts";
import type { ToolCatalog } from "./tool-catalog.ts";
import type { OriginPolicy } from "./transport-checks.ts";
import type { Backends } from "./upstream/backends.ts";

/**
 * Everything the request handlers share. Built by startRouter, and again by each configuration
 * reload: `config` and `invokeTool` (which reads tools.yaml's backends, timeouts and audit
 * settings) belong to one configuration, and a request keeps the context it started with.
 */
export type RouterContext = {
  config: GatewayConfig;
  authorizer: Authorizer;
  sessions: SessionCodec;
  revocations: SessionRevocations;
  /** HTTP+SSE (2024-11-05) streams open on this replica. */
  sseStreams: SseStreams;
  /** 2026-07-28 requests waiting for the client's answers to the server's requests (SEP-2322). */
  inputRounds: InputRounds;
  /** 2026-07-28 `subscriptions/listen` streams open on this replica. */
  listenStreams: ListenStreams;
  catalog: ToolCatalog;
  invokeTool: ToolInvoker;
  /** Where requests other than tools/call go for scopes served by an MCP server. */
  backends: Backends;
  /** Requests of MCP servers relayed to clients, waiting for the clients' answers. */
  serverRequests: ServerRequests;
  /** Background tool calls (MCP tasks and REST jobs). */
  tasks: TaskService;
  inFlight: InFlightCalls;
  audit: AuditSink;
  metrics: RouterMetrics;
  logger: Logger;
  allowedOrigins: OriginPolicy;
  serverInfo: { name: string; version: string };
  /** How long a 2026-era client may cache a (per-user, private) tools/list result. */
  listTtlMs: number;
};
