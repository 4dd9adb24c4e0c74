import { AsyncLocalStorage } from "node:async_hooks";
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from "@opentelemetry/api";
import type { W3CTraceContextPropagator } from "@opentelemetry/core";
import type { BasicTracerProvider, SpanExporter } from "@opentelemetry/sdk-trace-base";

/**
 * OpenTelemetry tracing, off unless an OTLP endpoint is configured. A few spans are made by hand
 * (no auto-instrumentation): the hot path checks one variable when tracing is off and creates no
 * span object. The SDK reads the standard OTEL_* variables itself (exporter endpoint, headers,
 * OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME); this module only decides
 * whether tracing runs at all and names the service when OTEL_SERVICE_NAME is unset.
 *
 * Context travels explicitly: an incoming span's parent is the W3C `traceparent` header of the
 * request it serves (never the ambient context, so a span cannot leak from one request into
 * another); spans started while serving it are its children through an AsyncLocalStorage that is
 * only entered when tracing is on.
 */

export type TracingEnv = Readonly<Record<string, string | undefined>>;

/** The W3C headers this module reads and writes. */
export const TRACEPARENT = "traceparent";
export const TRACESTATE = "tracestate";

/**
 * Whether tracing runs: an OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and neither OTEL_SDK_DISABLED=true nor
 * OTEL_TRACES_EXPORTER=none turns it off.
 */
export function tracingEnabled(env: TracingEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "").toLowerCase().split(",");
  if (exporters.map((name) => name.trim()).includes("none")) return false;
  const endpoint =
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return endpoint !== undefined && endpoint !== "";
}

export type TracingSetupOptions = {
  /** service.name unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names one. */
  defaultServiceName: string;
  env?: TracingEnv;
  /** Replaces the OTLP exporter and turns tracing on whatever the environment says (tests). */
  exporter?: SpanExporter;
};

export type Tracing = {
  readonly serviceName: string;
  /** Exports what is buffered and stops tracing (idempotent). */
  shutdown(): Promise<void>;
};

type Active = {
  tracer: Tracer;
  provider: BasicTracerProvider;
  propagator: W3CTraceContextPropagator;
  serviceName: string;
};

/** Set once per process by setupTracing; undefined means off and is the only hot-path check. */
let active: Active | undefined;
const currentSpan = new AsyncLocalStorage<Span>();

type Headers = Readonly<Record<string, string | string[] | undefined>>;
const headerGetter: TextMapGetter<Headers> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key.toLowerCase()],
};
const headerSetter: TextMapSetter<Record<string, string>> = {
  set: (carrier, key, value) => {
    carrier[key] = value;
  },
};

/**
 * Starts tracing for this process when the environment asks for it (or an exporter is given);
 * returns undefined, and changes nothing, otherwise. A second call while tracing runs returns the
 * running setup (whose shutdown only flushes): all services of the embedded stack share one
 * provider.
 */
export async function setupTracing(options: TracingSetupOptions): Promise<Tracing | undefined> {
  const env = options.env ?? process.env;
  if (options.exporter === undefined && !tracingEnabled(env)) return undefined;
  if (active !== undefined) return sharedHandleOf(active);
  // The SDK and the exporter (10–15 MB resident) are loaded only by a process that traces.
  const [
    { W3CTraceContextPropagator },
    { defaultResource, envDetector, detectResources, resourceFromAttributes },
    sdk,
    semconv,
  ] = await Promise.all([
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/semantic-conventions"),
  ]);
  const serviceNameKey = semconv.ATTR_SERVICE_NAME;
  const detected =
    options.exporter === undefined ? detectResources({ detectors: [envDetector] }) : undefined;
  let resource = defaultResource().merge(
    resourceFromAttributes({ [serviceNameKey]: options.defaultServiceName }),
  );
  if (detected !== undefined) resource = resource.merge(detected);
  const processor =
    options.exporter === undefined
      ? new sdk.BatchSpanProcessor(
          new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter(),
        )
      : new sdk.SimpleSpanProcessor(options.exporter);
  // Another caller may have set tracing up while this one was loading the SDK.
  if (active !== undefined) return sharedHandleOf(active);
  const provider = new sdk.BasicTracerProvider({ resource, spanProcessors: [processor] });
  const serviceName = String(resource.attributes[serviceNameKey] ?? options.defaultServiceName);
  active = {
    tracer: provider.getTracer("mcp-gateway"),
    provider,
    propagator: new W3CTraceContextPropagator(),
    serviceName,
  };
  return handleOf(active);
}

/** The handle of a caller that found tracing running: its shutdown only flushes. */
function sharedHandleOf(setup: Active): Tracing {
  return { serviceName: setup.serviceName, shutdown: () => setup.provider.forceFlush() };
}

function handleOf(setup: Active): Tracing {
  return {
    serviceName: setup.serviceName,
    async shutdown() {
      if (active !== setup) return;
      active = undefined;
      await setup.provider.shutdown();
    },
  };
}

/** Whether spans are being made (one variable read). */
export function tracingOn(): boolean {
  return active !== undefined;
}

export { SpanKind, SpanStatusCode };
export type { Span };

/** Options of a span that calls another service (kept as a constant: nothing allocated per call). */
export const CLIENT_SPAN: SpanOptions = Object.freeze({ kind: SpanKind.CLIENT });

export type SpanOptions = {
  attributes?: Attributes;
  kind?: SpanKind;
};

/**
 * Runs `fn` inside a span that continues the `traceparent` in `headers` (a new trace when there is
 * none or it is malformed). For the first span of a service's request: server spans.
 */
export function withIncomingSpan<T>(
  name: string,
  headers: Headers,
  fn: (span: Span | undefined) => Promise<T>,
  options: SpanOptions = {},
): Promise<T> {
  if (active === undefined) return fn(undefined);
  const parent = active.propagator.extract(ROOT_CONTEXT, headers, headerGetter);
  return run(active, name, parent, fn, { kind: SpanKind.SERVER, ...options });
}

/** Runs `fn` inside a child of the current span (a root span when there is none). */
export function withSpan<T>(
  name: string,
  fn: (span: Span | undefined) => Promise<T>,
  options: SpanOptions = {},
): Promise<T> {
  if (active === undefined) return fn(undefined);
  const parentSpan = currentSpan.getStore();
  const parent = parentSpan === undefined ? ROOT_CONTEXT : trace.setSpan(ROOT_CONTEXT, parentSpan);
  return run(active, name, parent, fn, { kind: SpanKind.INTERNAL, ...options });
}

async function run<T>(
  setup: Active,
  name: string,
  parent: Context,
  fn: (span: Span | undefined) => Promise<T>,
  options: SpanOptions,
): Promise<T> {
  const span = setup.tracer.startSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    parent,
  );
  try {
    return await currentSpan.run(span, () => fn(span));
  } catch (error) {
    // The exception's class only: messages may carry request data.
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: error instanceof Error ? error.name : "error",
    });
    throw error;
  } finally {
    span.end();
  }
}

/** Adds attributes to the current span (nothing when tracing is off or no span is current). */
export function setSpanAttributes(attributes: Attributes): void {
  if (active === undefined) return;
  currentSpan.getStore()?.setAttributes(attributes);
}

/** The current span's trace id (what audit rows store), or null when tracing is off. */
export function currentTraceId(): string | null {
  if (active === undefined) return null;
  const span = currentSpan.getStore();
  if (span === undefined) return null;
  const { traceId } = span.spanContext();
  return trace.isSpanContextValid(span.spanContext()) ? traceId : null;
}

/**
 * The W3C headers naming the current span as parent, for an outgoing request; empty when tracing
 * is off. The caller puts them beside its own headers (they are not covered by any MAC).
 */
export function traceHeaders(): Record<string, string> {
  if (active === undefined) return {};
  const span = currentSpan.getStore();
  if (span === undefined) return {};
  const carrier: Record<string, string> = {};
  active.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, headerSetter);
  return carrier;
}
