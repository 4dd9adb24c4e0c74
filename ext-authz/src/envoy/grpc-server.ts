/**
 * The grpc-js face: Authorization/Check and grpc.health.v1. Thin on purpose — CheckRequest →
 * input, decide, decision → CheckResponse. Every decision (deny included) is a successful RPC;
 * only an internal fault becomes a gRPC error, which Envoy turns into a closed failure.
 */
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  authorizationService,
  healthService,
  AUTHORIZATION_SERVICE_NAME,
  type CheckRequest,
  type CheckResponse,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type AuthzClient,
  type ServingStatus,
} from "../../../contract/src/authz-wire.ts";
import { GATEWAY_ERRORS } from "../../../contract/src/errors.ts";
import { requestIdFrom } from "../../../contract/src/headers.ts";
import type { Logger } from "../../../contract/src/log.ts";
import {
  currentTraceId,
  setSpanAttributes,
  tracingOn,
  withIncomingSpan,
} from "../../../contract/src/tracing.ts";
import type { AuditEvent } from "../../../store/src/audit-writer.ts";
import { badCheckRequest, decide, type Decision, type DecisionDeps } from "../policy/decide.ts";
import type { AdminViewHeaders } from "../runtime/admin-views.ts";
import type { AuthzMetrics } from "../runtime/metrics.ts";
import { checkInputFromRequest } from "./check-input.ts";
import { checkResponse } from "./check-response.ts";
import { createInProcessAuthzClient, rpcError } from "./in-process-client.ts";
import {
  decisionAttributes,
  traceCarrierOf,
  traceParentOf,
  type TraceCarrier,
} from "./check-tracing.ts";

export type AuditSink = { write(event: AuditEvent): Promise<void> };

export type CheckHandlerDeps = {
  decision: DecisionDeps;
  verdictKey: string;
  logger: Logger;
  audit: AuditSink;
  metrics?: AuthzMetrics | undefined;
  /**
   * Headers for the router beside the verdict on an operator's allowed `/admin/limits`,
   * `/admin/policy` and `/admin/policy/explain` (runtime/admin-views.ts).
   */
  adminViews?: AdminViewHeaders | undefined;
};

function httpStatusOf(decision: Decision, response: CheckResponse): number {
  if (decision.outcome === "allow" || decision.outcome === "public") return 200;
  const code = response.denied_response?.status?.code;
  return typeof code === "number" ? code : GATEWAY_ERRORS.GW_INTERNAL.httpStatus;
}

/** Check as a plain async function (used in-process by tests and the benchmark). */
export function createCheckHandler(
  deps: CheckHandlerDeps,
): (request: CheckRequest, trace?: TraceCarrier) => Promise<CheckResponse> {
  const { logger, metrics, audit } = deps;
  // The span's parent: Envoy's ext_authz span (gRPC metadata), else the request's traceparent.
  const traced = (request: CheckRequest, trace: TraceCarrier | undefined) =>
    withIncomingSpan("ext_authz.check", traceParentOf(request, trace), () => check(request));
  const check = async (request: CheckRequest): Promise<CheckResponse> => {
    const started = performance.now();
    const parsed = checkInputFromRequest(request);
    const decision: Decision = parsed.ok
      ? await decide(parsed.input, deps.decision)
      : badCheckRequest(
          requestIdFrom(request.attributes?.request?.http?.headers ?? {}, randomUUID),
        );
    const response = checkResponse(
      decision,
      parsed.ok ? parsed.input.headers : {},
      deps.verdictKey,
      parsed.ok && deps.adminViews !== undefined
        ? await deps.adminViews(parsed.input, decision)
        : {},
    );
    const latencyMs = performance.now() - started;
    const status = httpStatusOf(decision, response);
    const reason = decision.outcome === "allow" ? "allowed" : decision.reason;

    metrics?.decisions.inc({ outcome: decision.outcome, reason });
    metrics?.checkDuration.observe(
      {
        outcome: decision.outcome,
        token:
          decision.outcome === "allow" ? (decision.tokenCached ? "cached" : "verified") : "none",
      },
      latencyMs / 1000,
    );
    const context =
      decision.outcome === "allow" || decision.outcome === "deny" ? decision.context : undefined;
    // One line per check, allowlisted fields only: never headers, token or body.
    logger.info(
      {
        requestId: decision.requestId,
        outcome: decision.outcome,
        reason,
        status,
        scope: decision.outcome === "allow" ? decision.scope : (context?.scope ?? undefined),
        method: context?.method ?? undefined,
        tool: context?.tool ?? undefined,
        subject: context?.subject ?? undefined,
        rule: context?.rule,
        wouldDeny: context?.wouldDeny,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
      },
      "authz decision",
    );
    if (tracingOn()) setSpanAttributes(decisionAttributes(decision, reason, status));
    const queueAudit = (event: AuditEvent, what: string): void => {
      // Queued off the answer path: the answer is the same either way, and a loss is counted.
      audit.write(event).catch((error: unknown) => {
        metrics?.auditFailures.inc();
        logger.error(
          {
            requestId: decision.requestId,
            reason: event.reason,
            err: error instanceof Error ? error.name : "unknown",
          },
          `audit write failed for ${what}`,
        );
      });
    };

    // Dry-run rules never change the answer; each call they would refuse is counted and audited.
    for (const { scope, tool, rule } of context?.wouldDeny ?? []) {
      metrics?.policyDryRun.inc({ rule });
      queueAudit(
        {
          request_id: decision.requestId,
          source: "ext-authz",
          kind: "decision",
          subject: context?.subject ?? null,
          tenant: context?.tenant ?? null,
          roles: context?.roles ?? [],
          scope,
          method: context?.method ?? null,
          tool,
          outcome: "would_deny",
          reason: "dry_run",
          policy_rule: rule,
          trace_id: currentTraceId(),
        },
        "a dry-run rule",
      );
    }

    if (decision.outcome === "deny") {
      const event: AuditEvent = {
        request_id: decision.requestId,
        source: "ext-authz",
        kind: "decision",
        subject: decision.context.subject,
        tenant: decision.context.tenant,
        roles: decision.context.roles,
        scope: decision.context.scope,
        method: decision.context.method,
        tool: decision.context.tool,
        outcome: "denied",
        reason: decision.reason,
        status,
        latency_ms: latencyMs,
        request_bytes: parsed.ok ? parsed.input.body.byteLength : null,
        policy_rule: decision.context.rule ?? null,
        trace_id: currentTraceId(),
      };
      queueAudit(event, "a denial");
    }
    return response;
  };
  return (request, trace) => (tracingOn() ? traced(request, trace) : check(request));
}

export type GrpcServerOptions = {
  host: string;
  port: number;
  /** Largest CheckRequest accepted: the body limit plus room for headers. */
  maxReceiveBytes: number;
  check: (request: CheckRequest, trace?: TraceCarrier) => Promise<CheckResponse>;
  logger: Logger;
  metrics?: AuthzMetrics | undefined;
};

export type RunningGrpcServer = {
  port: number;
  setServing: (serving: boolean) => void;
  isServing: () => boolean;
  /**
   * A Check client for a router in this same process (the embedded stack): the same encoded
   * messages, limits and errors as over gRPC, without an HTTP/2 connection over loopback.
   */
  inProcessClient: () => AuthzClient;
  /** Stops accepting calls, lets in-flight ones finish for up to graceMs, then cancels the rest. */
  close(graceMs: number): Promise<void>;
};

const HEALTH_NAMES = new Set(["", AUTHORIZATION_SERVICE_NAME]);

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveBytes,
    "grpc.max_send_message_length": options.maxReceiveBytes,
    // Per-call channelz counters feed a debugging service this server does not register.
    "grpc.enable_channelz": 0,
  });
  let serving = false;
  const watchers = new Set<grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>();
  const statusOf = (): ServingStatus => (serving ? "SERVING" : "NOT_SERVING");

  /** The Check's answer, or the INTERNAL error an internal fault becomes (logged and counted). */
  const answer = (request: CheckRequest, trace: TraceCarrier | undefined) =>
    options.check(request, trace).catch((error: unknown) => {
      options.metrics?.internalErrors.inc();
      options.logger.error(
        { err: error instanceof Error ? { name: error.name, message: error.message } : "unknown" },
        "check failed internally",
      );
      throw rpcError(grpc.status.INTERNAL, "internal error");
    });
  let closed = false;

  server.addService(authorizationService, {
    Check(
      call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>,
      callback: grpc.sendUnaryData<CheckResponse>,
    ) {
      answer(call.request, tracingOn() ? traceCarrierOf(call.metadata) : undefined).then(
        (response) => callback(null, response),
        (error: grpc.ServiceError) => callback(error, null),
      );
    },
  });

  server.addService(healthService, {
    Check(
      call: grpc.ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>,
      callback: grpc.sendUnaryData<HealthCheckResponse>,
    ) {
      if (!HEALTH_NAMES.has(call.request.service ?? "")) {
        callback({ code: grpc.status.NOT_FOUND, details: "unknown service" }, null);
        return;
      }
      callback(null, { status: statusOf() });
    },
    Watch(call: grpc.ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) {
      if (!HEALTH_NAMES.has(call.request.service ?? "")) {
        call.write({ status: "SERVICE_UNKNOWN" });
      } else {
        call.write({ status: statusOf() });
      }
      watchers.add(call);
      call.on("cancelled", () => watchers.delete(call));
      call.on("close", () => watchers.delete(call));
    },
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    );
  });

  function setServing(next: boolean): void {
    if (serving === next) return;
    serving = next;
    for (const call of watchers) {
      if (HEALTH_NAMES.has(call.request.service ?? "")) call.write({ status: statusOf() });
    }
  }

  return {
    port,
    setServing,
    isServing: () => serving,
    inProcessClient: () =>
      createInProcessAuthzClient({
        answer,
        maxReceiveBytes: options.maxReceiveBytes,
        status: (service) => (HEALTH_NAMES.has(service) ? statusOf() : undefined),
        isClosed: () => closed,
      }),
    async close(graceMs) {
      closed = true;
      setServing(false);
      for (const call of watchers) call.end();
      watchers.clear();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
  };
}
