import { randomBytes } from "node:crypto";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { setupTracing, tracingOn, type Tracing } from "../../contract/src/tracing.ts";
import {
  ALICE,
  modernHeaders,
  modernRequest,
  readMessages,
  startE2eStack,
  type E2eStack,
} from "./stack-fixture.ts";

/**
 * One tools/call through the whole embedded stack (router in direct mode, ext-authz over gRPC, a
 * tool server) with spans exported to memory: one trace, the expected parent/child tree, the trace
 * id in the audit row, and nothing secret in any attribute.
 */

const exporter = new InMemorySpanExporter();
let tracing: Tracing | undefined;
let e2e: E2eStack;

beforeAll(async () => {
  tracing = await setupTracing({ defaultServiceName: "mcp-gateway-test", exporter });
  e2e = await startE2eStack();
});
afterAll(async () => {
  await tracing?.shutdown();
  await e2e?.close();
});

type Call = { token: string; requestId: string; status: number; result: unknown };

async function calculate(headers: Record<string, string> = {}): Promise<Call> {
  const token = await e2e.token(ALICE);
  const response = await fetch(e2e.endpoint("calculator"), {
    method: "POST",
    headers: {
      ...modernHeaders("tools/call", "exact_calculate"),
      authorization: `Bearer ${token}`,
      ...headers,
    },
    body: JSON.stringify(
      modernRequest("tools/call", {
        name: "exact_calculate",
        arguments: { operator: "add", operands: ["40", "2"] },
      }),
    ),
  });
  const [message] = await readMessages(response);
  return {
    token,
    requestId: response.headers.get(HEADER.requestId) ?? "",
    status: response.status,
    result: message,
  };
}

/** The spans of one trace, once its root (the router's request span) has ended. */
async function spansOf(traceId: string): Promise<ReadableSpan[]> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const spans = exporter
      .getFinishedSpans()
      .filter((span) => span.spanContext().traceId === traceId);
    const names = spans.map((span) => span.name);
    if (names.includes("router.request") && names.includes("tool_server.request")) return spans;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`trace ${traceId} never completed`);
}

const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

async function invocationRow(requestId: string) {
  const rows = await e2e.auditRows(requestId);
  const row = rows.find((candidate) => candidate.kind === "invocation");
  if (row === undefined) throw new Error(`no invocation row for ${requestId}`);
  return row;
}

describe("tracing on (in-memory exporter)", () => {
  it("records one trace across router, ext-authz and the tool server, continuing the caller's traceparent", async () => {
    expect(tracingOn()).toBe(true);
    const traceId = randomBytes(16).toString("hex");
    const callerSpanId = randomBytes(8).toString("hex");
    const call = await calculate({ traceparent: `00-${traceId}-${callerSpanId}-01` });
    expect(call.status).toBe(200);
    expect(call.result).toMatchObject({ result: { structuredContent: { result: "42" } } });

    const spans = await spansOf(traceId);
    const byName = (name: string) => spans.filter((span) => span.name === name);
    const [request] = byName("router.request");
    const [verdict] = byName("router.verdict");
    const [check] = byName("ext_authz.check");
    const upstream = byName("router.upstream").find(
      (span) => span.attributes["rpc.method"] === "tools/call",
    );
    const [tool] = byName("tool_server.request");
    const audits = byName("router.audit");
    expect(request && verdict && check && upstream && tool).toBeTruthy();

    // The router's request span continues the caller's; everything else hangs below it.
    expect(parentOf(request!)).toBe(callerSpanId);
    expect(parentOf(verdict!)).toBe(request!.spanContext().spanId);
    expect(parentOf(check!)).toBe(verdict!.spanContext().spanId);
    expect(parentOf(upstream!)).toBe(request!.spanContext().spanId);
    expect(parentOf(tool!)).toBe(upstream!.spanContext().spanId);
    // Write-ahead: the start row before the tool runs, the outcome row after.
    expect(audits.map((span) => span.attributes["audit.op"]).sort()).toEqual(["begin", "end"]);
    for (const audit of audits) expect(parentOf(audit)).toBe(request!.spanContext().spanId);

    expect(check!.attributes).toMatchObject({
      "gateway.decision": "allow",
      "gateway.reason": "allowed",
      "gateway.scope": "calculator",
      "gateway.tool": "exact_calculate",
      "gateway.method": "tools/call",
    });
    expect(check!.attributes["gateway.subject_hash"]).toMatch(/^[0-9a-f]{16}$/);
    expect(verdict!.attributes["gateway.verdict"]).toBe("valid");
    expect(upstream!.attributes["gateway.upstream.outcome"]).toBe("result");
    expect(tool!.attributes).toMatchObject({
      "gateway.tool_server": "calculator",
      "gateway.tool": "exact_calculate",
    });

    // The audit row names the trace.
    expect((await invocationRow(call.requestId)).trace_id).toBe(traceId);

    // Never the token, its payload, the subject in clear or the raw arguments.
    const recorded = JSON.stringify(spans.map((span) => span.attributes));
    for (const secret of [call.token, ...call.token.split("."), "alice", "operands"]) {
      expect(recorded).not.toContain(secret);
    }
  });

  it("starts a new trace when the caller sends none (or a malformed one)", async () => {
    const call = await calculate({ traceparent: "not-a-traceparent" });
    expect(call.status).toBe(200);
    const row = await invocationRow(call.requestId);
    expect(row.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const spans = await spansOf(row.trace_id!);
    expect(spans.find((span) => span.name === "router.request")!.parentSpanContext).toBeUndefined();
  });

  it("records a denial as the check span's decision and in the denial's audit row", async () => {
    const traceId = randomBytes(16).toString("hex");
    const response = await fetch(e2e.endpoint("calculator"), {
      method: "POST",
      headers: {
        ...modernHeaders("tools/call", "exact_calculate"),
        authorization: "Bearer not-a-token",
        traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`,
      },
      body: JSON.stringify(modernRequest("tools/call", { name: "exact_calculate" })),
    });
    expect(response.status).toBe(401);
    await response.text();
    const check = exporter
      .getFinishedSpans()
      .find((span) => span.name === "ext_authz.check" && span.spanContext().traceId === traceId);
    expect(check?.attributes["gateway.decision"]).toBe("deny");
    const recorded = JSON.stringify(check?.attributes);
    expect(recorded).not.toContain("not-a-token");
  });
});

describe("tracing off", () => {
  it("creates no span and stores no trace id", async () => {
    await tracing?.shutdown();
    tracing = undefined;
    expect(tracingOn()).toBe(false);
    exporter.reset();
    const traceId = randomBytes(16).toString("hex");
    const call = await calculate({
      traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01`,
    });
    expect(call.status).toBe(200);
    expect((await invocationRow(call.requestId)).trace_id).toBeNull();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});
