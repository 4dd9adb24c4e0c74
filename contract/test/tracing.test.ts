import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  currentTraceId,
  setupTracing,
  traceHeaders,
  tracingEnabled,
  tracingOn,
  withIncomingSpan,
  withSpan,
  type Tracing,
} from "../src/tracing.ts";

describe("tracingEnabled (OTEL_* environment)", () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "   " }, false],
    [{ OTEL_SERVICE_NAME: "router" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "TRUE" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "false" }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "none" }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_TRACES_EXPORTER: "otlp" }, true],
  ])("%j → %s", (env, expected) => {
    expect(tracingEnabled(env)).toBe(expected);
  });

  it("sets nothing up when the environment does not ask for it", async () => {
    expect(await setupTracing({ defaultServiceName: "x", env: {} })).toBeUndefined();
    expect(tracingOn()).toBe(false);
  });
});

describe("with tracing off", () => {
  it("runs the work without a span, adds no header and knows no trace id", async () => {
    expect(tracingOn()).toBe(false);
    const seen = await withIncomingSpan(
      "s",
      { traceparent: "00-" + "a".repeat(32) + "-" + "b".repeat(16) + "-01" },
      async (span) => {
        expect(traceHeaders()).toEqual({});
        expect(currentTraceId()).toBeNull();
        return span;
      },
    );
    expect(seen).toBeUndefined();
    expect(await withSpan("child", async (span) => span)).toBeUndefined();
  });
});

describe("with tracing on", () => {
  let tracing: Tracing | undefined;
  // A provider's shutdown stops its exporter: one per test.
  let exporter: InMemorySpanExporter;
  beforeEach(() => {
    exporter = new InMemorySpanExporter();
  });
  afterEach(async () => {
    await tracing?.shutdown();
  });

  it("continues a traceparent, nests children and propagates W3C headers", async () => {
    tracing = await setupTracing({ defaultServiceName: "unit", exporter });
    expect(tracingOn()).toBe(true);
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const parentId = "b7ad6b7169203331";
    let outgoing: Record<string, string> = {};
    await withIncomingSpan("in", { traceparent: `00-${traceId}-${parentId}-01` }, async () => {
      expect(currentTraceId()).toBe(traceId);
      await withSpan("out", async () => {
        outgoing = traceHeaders();
      });
    });
    const spans = exporter.getFinishedSpans();
    const incoming = spans.find((span) => span.name === "in")!;
    const child = spans.find((span) => span.name === "out")!;
    expect(incoming.parentSpanContext?.spanId).toBe(parentId);
    expect(child.parentSpanContext?.spanId).toBe(incoming.spanContext().spanId);
    expect(outgoing.traceparent).toBe(`00-${traceId}-${child.spanContext().spanId}-01`);
    expect(incoming.resource.attributes["service.name"]).toBe("unit");
  });

  it("marks a span failed by the error's class, not its message", async () => {
    tracing = await setupTracing({ defaultServiceName: "unit", exporter });
    await expect(
      withSpan("boom", () => Promise.reject(new TypeError("secret detail"))),
    ).rejects.toThrow(TypeError);
    const [span] = exporter.getFinishedSpans();
    expect(span?.status).toEqual({ code: 2, message: "TypeError" });
  });

  it("sets up one provider when two setups run at once", async () => {
    const both = await Promise.all([
      setupTracing({ defaultServiceName: "one", exporter }),
      setupTracing({ defaultServiceName: "two", exporter }),
    ]);
    expect(both.map((handle) => handle?.serviceName)).toEqual(["one", "one"]);
    // The second is the shared handle: its shutdown only flushes.
    await both[1]?.shutdown();
    expect(tracingOn()).toBe(true);
    tracing = both[0];
  });

  it("lets a second setup share the running provider without stopping it", async () => {
    tracing = await setupTracing({ defaultServiceName: "first", exporter });
    const shared = await setupTracing({ defaultServiceName: "second", exporter });
    expect(shared?.serviceName).toBe("first");
    await shared?.shutdown();
    expect(tracingOn()).toBe(true);
    await tracing?.shutdown();
    expect(tracingOn()).toBe(false);
  });
});

describe("the OTLP exporter (tracing from the environment)", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("posts the spans to OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces under OTEL_SERVICE_NAME", async () => {
    const received: { path: string | undefined; body: string }[] = [];
    const collector = createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        received.push({ path: req.url, body });
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    collector.listen(0, "127.0.0.1");
    await once(collector, "listening");
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    try {
      vi.stubEnv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
      vi.stubEnv("OTEL_SERVICE_NAME", "from-env");
      const tracing = await setupTracing({ defaultServiceName: "default-name" });
      expect(tracing?.serviceName).toBe("from-env");
      await withSpan("exported", () => Promise.resolve());
      await tracing?.shutdown();
      expect(received).toHaveLength(1);
      expect(received[0]!.path).toBe("/v1/traces");
      expect(received[0]!.body).toContain('"exported"');
      expect(received[0]!.body).toContain('"from-env"');
    } finally {
      collector.close();
    }
  });
});
