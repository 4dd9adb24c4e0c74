import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import {
  jsonResponse,
  rpcErrorResponse,
  type RouterRequest,
  type RouterResponse,
} from "./http-types.ts";
import type { RouterMetrics } from "./metrics.ts";

/** Health, readiness, metrics and docs: unauthenticated, no tool data, GET only. */

export type ReadinessProbe = { name: string; check(): Promise<boolean> };

/**
 * /ready answers within this, whatever a dependency does: below the 1 s health-check timeout of
 * Envoy (envoy/envoy.yaml) and Kubernetes' default, so a hung database reads as "timeout" rather
 * than as a router that does not answer.
 */
const PROBE_TIMEOUT_MS = 800;

type ProbeState = "ok" | "failing" | "timeout";

// One check per probe at a time: while a dependency hangs, callers polling /ready share the
// pending check instead of queueing more work on it (e.g. waiters for a pooled connection).
const pendingChecks = new WeakMap<ReadinessProbe, Promise<ProbeState>>();

function check(probe: ReadinessProbe): Promise<ProbeState> {
  let pending = pendingChecks.get(probe);
  if (pending === undefined) {
    pending = Promise.resolve()
      .then(() => probe.check())
      .then(
        (ok): ProbeState => (ok ? "ok" : "failing"),
        (): ProbeState => "failing",
      )
      .finally(() => pendingChecks.delete(probe));
    pendingChecks.set(probe, pending);
  }
  return pending;
}

async function runProbe(probe: ReadinessProbe): Promise<ProbeState> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(probe),
      new Promise<ProbeState>((resolve) => {
        timer = setTimeout(() => resolve("timeout"), PROBE_TIMEOUT_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * 200 when every probe is ok, else 503; `checks` names each probe's state (ok, failing, timeout).
 * `detail` adds information that does not decide readiness (the configuration and its reloads).
 */
export async function handleReady(
  probes: readonly ReadinessProbe[],
  detail: Record<string, unknown> = {},
): Promise<RouterResponse> {
  const results = await Promise.all(
    probes.map(async (probe) => [probe.name, await runProbe(probe)] as const),
  );
  const checks = Object.fromEntries(results);
  const ready = results.every(([, state]) => state === "ok");
  return jsonResponse(
    ready ? 200 : 503,
    { status: ready ? "ready" : "not_ready", checks, ...detail },
    { "cache-control": "no-store" },
  );
}

export async function handleMetrics(metrics: RouterMetrics): Promise<RouterResponse> {
  return {
    status: 200,
    headers: { "content-type": metrics.registry.contentType },
    body: await metrics.registry.metrics(),
  };
}

const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
};

const assetDir = path.dirname(
  createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"),
);
const assetCache = new Map<string, Buffer>();

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>MCP Gateway API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script>
</body>
</html>
`;

// A separate script (not inline) so the page works under a strict Content-Security-Policy.
const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: "/docs/openapi.json", dom_id: "#swagger-ui" });\n`;

const DOCS_HEADERS = {
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
  "x-content-type-options": "nosniff",
};

export async function handleDocs(
  request: RouterRequest,
  openApi: Record<string, unknown>,
): Promise<RouterResponse> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return rpcErrorResponse("GW_METHOD_NOT_ALLOWED", null, { headers: { allow: "GET" } });
  }
  switch (request.path) {
    case "/docs":
    case "/docs/":
      return {
        status: 200,
        headers: { "content-type": "text/html; charset=utf-8", ...DOCS_HEADERS },
        body: DOCS_PAGE,
      };
    case "/docs/openapi.json":
      return jsonResponse(200, openApi);
    case "/docs/assets/init.js":
      return {
        status: 200,
        headers: { "content-type": "text/javascript; charset=utf-8" },
        body: DOCS_INIT,
      };
  }
  const name = request.path.startsWith("/docs/assets/")
    ? request.path.slice("/docs/assets/".length)
    : "";
  const contentType = ASSETS[name];
  if (contentType === undefined) return rpcErrorResponse("GW_NOT_FOUND");
  let content = assetCache.get(name);
  if (content === undefined) {
    content = await readFile(path.join(assetDir, name));
    assetCache.set(name, content);
  }
  return {
    status: 200,
    headers: {
      "content-type": contentType,
      "cache-control": "public, max-age=86400",
      ...DOCS_HEADERS,
    },
    body: content,
  };
}
