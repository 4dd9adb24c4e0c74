/**
 * A real grpc-js client sends Envoy-shaped CheckRequests (fixtures/*.json, each annotated with the
 * HTTP request it stands for) to ext-authz on an ephemeral port and compares whole responses.
 */
import { readdirSync, readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createAuthzClient,
  decodeCheckRequest,
  encodeCheckRequest,
  type AuthzClient,
  type CheckRequest,
  type CheckResponse,
  type HeaderValueOption,
} from "../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { verifyVerdict } from "../../contract/src/verdict.ts";
import { startExtAuthz, type RunningExtAuthz } from "../src/main.ts";
import {
  checkRequest,
  makeToken,
  NOW_MS,
  NOW_S,
  recordingAudit,
  silentLogger,
  testConfig,
  TEST_ENV,
  VERDICT_KEY,
} from "./fixture-config.ts";

const FIXTURE_DIR = new URL("./fixtures/", import.meta.url);

type Fixture = {
  description: string;
  http: string;
  token: Record<string, unknown> | null;
  check_request: CheckRequest;
  expect: Record<string, unknown>;
};

const fixtures = readdirSync(FIXTURE_DIR)
  .filter((name) => name.endsWith(".json"))
  .sort()
  .map((name) => ({
    name,
    fixture: JSON.parse(readFileSync(new URL(name, FIXTURE_DIR), "utf8")) as Fixture,
  }));

/** "$NOW-120" style relative times in fixture token claims. */
function resolveClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(claims)) {
    const match = typeof value === "string" ? /^\$NOW([+-]\d+)$/.exec(value) : null;
    out[key] = match ? NOW_S + Number(match[1]) : value;
  }
  return out;
}

function substitute<T>(value: T, token: string): T {
  return JSON.parse(JSON.stringify(value).replaceAll("$TOKEN", token)) as T;
}

function headerMap(options: HeaderValueOption[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const option of options) {
    // Every header is sent so that it overwrites on old and new Envoys alike.
    expect(option.append).toEqual({ value: false });
    expect(option.append_action).toBe("OVERWRITE_IF_EXISTS_OR_ADD");
    map[option.header!.key] = option.header!.value!;
  }
  return map;
}

/** The decoded response in the fixtures' comparison form: every field present is represented. */
function normalize(response: CheckResponse, bodyBytes: Uint8Array): Record<string, unknown> {
  expect(response.dynamic_metadata).toBeNull();
  const base = { status: { code: response.status?.code, message: response.status?.message } };
  if (response.http_response === "ok_response") {
    const ok = response.ok_response!;
    expect(ok.response_headers_to_add).toEqual([]);
    expect(ok.query_parameters_to_set).toEqual([]);
    expect(ok.query_parameters_to_remove).toEqual([]);
    const set = headerMap(ok.headers);
    const verdictHeader = set["x-gateway-verdict"];
    delete set["x-gateway-verdict"];
    let verdict: unknown = null;
    if (verdictHeader !== undefined) {
      const checked = verifyVerdict(verdictHeader, {
        key: VERDICT_KEY,
        bodyDigest: sha256Hex(bodyBytes),
        now: NOW_MS,
      });
      expect(checked.ok).toBe(true);
      verdict = checked.ok
        ? {
            ...checked.verdict,
            bodyDigest: "$BODY_DIGEST",
            exp: checked.verdict.exp === NOW_S + 30 ? "$VERDICT_EXP" : checked.verdict.exp,
          }
        : null;
    }
    return {
      ...base,
      http_response: "ok_response",
      set,
      headers_to_remove: ok.headers_to_remove,
      verdict,
    };
  }
  const denied = response.denied_response!;
  const headers = headerMap(denied.headers);
  const requestId = headers["x-request-id"];
  delete headers["x-request-id"];
  expect(requestId).toMatch(/^req-|^[0-9a-f-]{36}$/);
  return {
    ...base,
    http_response: response.http_response,
    http_status: denied.status?.code === "OK" ? 200 : statusNumber(denied.status?.code),
    headers,
    body: JSON.parse(denied.body) as unknown,
  };
}

const STATUS: Record<string, number> = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  PayloadTooLarge: 413,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
};
function statusNumber(code: unknown): number {
  return typeof code === "number" ? code : (STATUS[String(code)] ?? -1);
}

// The embedded stack's router asks in-process: it must see what a gRPC client sees.
const clients = [
  {
    name: "over gRPC",
    connect: (server: RunningExtAuthz) => createAuthzClient(`127.0.0.1:${server.port}`),
  },
  { name: "in-process", connect: (server: RunningExtAuthz) => server.inProcessClient() },
];

describe.each(clients)("ext-authz $name", ({ connect }) => {
  let server: RunningExtAuthz;
  let client: AuthzClient;
  const audit = recordingAudit();

  beforeAll(async () => {
    server = await startExtAuthz({
      env: TEST_ENV,
      config: testConfig(),
      host: "127.0.0.1",
      port: 0,
      metricsPort: 0,
      audit,
      logger: silentLogger,
      now: () => NOW_MS,
    });
    client = connect(server);
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it.each(fixtures)("$name", async ({ fixture }) => {
    expect(fixture.http).toMatch(/^curl /);
    const token = fixture.token === null ? "" : await makeToken(resolveClaims(fixture.token));
    const request = substitute(fixture.check_request, token);
    // The fixture survives the wire unchanged (types match the proto).
    const http = decodeCheckRequest(encodeCheckRequest(request)).attributes!.request!.http!;
    const bodyBytes =
      http.raw_body !== undefined && http.raw_body.byteLength > 0
        ? http.raw_body
        : Buffer.from(http.body ?? "");
    const response = await client.check(request, { deadlineMs: 5000 });
    expect(normalize(response, bodyBytes)).toEqual(substitute(fixture.expect, token));
  });

  it("audits every denial without the token", async () => {
    const before = audit.events.length;
    const token = await makeToken({ sub: "audrey", roles: ["auditor"] });
    await client.check(
      checkRequest({
        path: "/git/mcp",
        headers: { authorization: `Bearer ${token}`, "x-request-id": "req-audit" },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "tools/call",
          params: { name: "git_read_file" },
        }),
      }),
      { deadlineMs: 5000 },
    );
    const event = audit.events.slice(before).find((e) => e.request_id === "req-audit");
    expect(event).toMatchObject({
      source: "ext-authz",
      kind: "decision",
      outcome: "denied",
      reason: "tool_not_allowed",
      status: 403,
      subject: "audrey",
      roles: ["auditor"],
      scope: "git",
      method: "tools/call",
      tool: "git_read_file",
    });
    expect(JSON.stringify(audit.events)).not.toContain(token);
  });

  it("answers 429 with Retry-After and RateLimit headers", async () => {
    const token = await makeToken({ sub: "rate-user", roles: ["limited"] });
    const ping = () =>
      client.check(
        checkRequest({
          path: "/calculator/mcp",
          headers: { authorization: `Bearer ${token}` },
          body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
        }),
        { deadlineMs: 5000 },
      );
    for (let i = 0; i < 3; i += 1) expect((await ping()).status?.code).toBe(0);
    const limited = await ping();
    expect(limited.status?.code).toBe(8);
    expect(limited.denied_response?.status?.code).toBe("TooManyRequests");
    const headers = Object.fromEntries(
      limited.denied_response!.headers.map((h) => [h.header!.key, h.header!.value]),
    );
    expect(Number(headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(headers["ratelimit-limit"]).toBe("3");
    expect(headers["ratelimit-remaining"]).toBe("0");
    expect(Number(headers["ratelimit-reset"])).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(limited.denied_response!.body)).toMatchObject({
      error: { code: -32029, data: { code: "GW_RATE_LIMITED" } },
    });
  });

  it("answers a CheckRequest without HTTP attributes with a 400 deny, not an RPC error", async () => {
    const response = await client.check({ attributes: {} }, { deadlineMs: 5000 });
    expect(response.status?.code).toBe(3);
    expect(response.denied_response?.status?.code).toBe("BadRequest");
  });

  it("refuses a CheckRequest larger than the receive limit", async () => {
    const huge = checkRequest({ path: "/calculator/mcp", body: "x".repeat(1024 * 1024) });
    await expect(client.check(huge, { deadlineMs: 5000 })).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
  });

  it("reports health, and NOT_SERVING while draining", async () => {
    expect(await client.health()).toEqual({ status: "SERVING" });
    expect(await client.health("envoy.service.auth.v3.Authorization")).toEqual({
      status: "SERVING",
    });
    await expect(client.health("no.such.Service")).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    server.setServing(false);
    try {
      expect(await client.health()).toEqual({ status: "NOT_SERVING" });
      const ready = await fetch(`http://127.0.0.1:${server.metricsPort}/ready`);
      expect(ready.status).toBe(503);
    } finally {
      server.setServing(true);
    }
    expect((await fetch(`http://127.0.0.1:${server.metricsPort}/ready`)).status).toBe(200);
  });

  it("exposes decision metrics by outcome and reason", async () => {
    const response = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`);
    const text = await response.text();
    expect(response.status).toBe(200);
    expect(text).toMatch(
      /ext_authz_decisions_total\{outcome="deny",reason="token_missing"\} [1-9]/,
    );
    expect(text).toMatch(/ext_authz_decisions_total\{outcome="allow",reason="allowed"\} [1-9]/);
    expect(text).toContain("ext_authz_check_duration_seconds_bucket");
  });
});

describe("startExtAuthz lifecycle", () => {
  it("refuses to start without required secrets in production", async () => {
    await expect(
      startExtAuthz({
        env: { NODE_ENV: "production" },
        config: testConfig(),
        port: 0,
        metricsPort: null,
        logger: silentLogger,
      }),
    ).rejects.toThrow(/GATEWAY_VERDICT_KEY/);
  });

  it("refuses two JWT key sources", async () => {
    await expect(
      startExtAuthz({
        env: { ...TEST_ENV, JWT_JWKS_URL: "http://127.0.0.1:1/jwks" },
        config: testConfig(),
        port: 0,
        metricsPort: null,
        logger: silentLogger,
      }),
    ).rejects.toThrow(/only one JWT key source/);
  });

  it("drains: health flips to NOT_SERVING for watchers and the port closes", async () => {
    const running = await startExtAuthz({
      env: TEST_ENV,
      config: testConfig(),
      host: "127.0.0.1",
      port: 0,
      metricsPort: null,
      audit: recordingAudit(),
      logger: silentLogger,
    });
    expect(running.metricsPort).toBeNull();
    const client = createAuthzClient(`127.0.0.1:${running.port}`);
    try {
      expect(await client.health()).toEqual({ status: "SERVING" });
      await running.close();
      await expect(client.health(undefined, { deadlineMs: 500 })).rejects.toBeTruthy();
    } finally {
      client.close();
    }
  });

  it("on close reports NOT_SERVING and keeps answering checks for the drain period", async () => {
    const running = await startExtAuthz({
      env: { ...TEST_ENV, SHUTDOWN_DRAIN_MS: "1500" },
      config: testConfig(),
      host: "127.0.0.1",
      port: 0,
      metricsPort: null,
      audit: recordingAudit(),
      logger: silentLogger,
      now: () => NOW_MS,
    });
    const client = createAuthzClient(`127.0.0.1:${running.port}`);
    try {
      expect(await client.health()).toEqual({ status: "SERVING" });
      let closed = false;
      const closing = running.close().then(() => {
        closed = true;
      });
      // Envoy's health checks see the replica leave while its checks still succeed.
      expect(await client.health()).toEqual({ status: "NOT_SERVING" });
      const token = await makeToken();
      const answered = await client.check(
        checkRequest({
          path: "/calculator/mcp",
          headers: { authorization: `Bearer ${token}` },
          body: '{"jsonrpc":"2.0","id":1,"method":"ping"}',
        }),
        { deadlineMs: 1000 },
      );
      expect(answered.status?.code).toBe(0);
      expect(closed).toBe(false);
      await closing;
      await expect(client.health(undefined, { deadlineMs: 500 })).rejects.toBeTruthy();
    } finally {
      client.close();
    }
  });
});
