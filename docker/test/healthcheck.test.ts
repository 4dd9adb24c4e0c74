import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterEach, describe, expect, it } from "vitest";

const SCRIPT = fileURLToPath(new URL("../healthcheck.mjs", import.meta.url));
const HEALTH_PROTO = fileURLToPath(
  new URL("../../proto/grpc/health/v1/health.proto", import.meta.url),
);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function runCheck(
  target: string | undefined,
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, target === undefined ? [SCRIPT] : [SCRIPT, target], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr };
}

async function httpServer(status: number): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end("{}");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function grpcHealthServer(statusFor: (service: string) => string): Promise<string> {
  const definition = protoLoader.loadSync(HEALTH_PROTO, { enums: String, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition);
  const v1 = ((loaded["grpc"] as grpc.GrpcObject)["health"] as grpc.GrpcObject)[
    "v1"
  ] as grpc.GrpcObject;
  const health = v1["Health"] as grpc.ServiceClientConstructor;
  const server = new grpc.Server();
  server.addService(health.service, {
    Check: (
      call: grpc.ServerUnaryCall<{ service: string }, { status: string }>,
      callback: grpc.sendUnaryData<{ status: string }>,
    ) => callback(null, { status: statusFor(call.request.service) }),
    Watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  cleanups.push(() => new Promise((resolve) => server.tryShutdown(() => resolve())));
  return `grpc://127.0.0.1:${port}`;
}

describe("docker/healthcheck.mjs", () => {
  it("passes on a 2xx HTTP answer and fails otherwise", async () => {
    expect((await runCheck(`${await httpServer(200)}/ready`)).code).toBe(0);
    const failing = await runCheck(`${await httpServer(503)}/ready`);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toMatch(/HTTP 503/);
  });

  it("reads the target from HEALTHCHECK_TARGET", async () => {
    const target = `${await httpServer(204)}/health`;
    expect((await runCheck(undefined, { HEALTHCHECK_TARGET: target })).code).toBe(0);
  });

  it("passes only when grpc.health.v1 answers SERVING", async () => {
    const serving = await grpcHealthServer(() => "SERVING");
    expect((await runCheck(serving)).code).toBe(0);
    const notServing = await grpcHealthServer(() => "NOT_SERVING");
    const result = await runCheck(notServing);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/status is 2/);
  });

  it("sends the service name from the URL path", async () => {
    const target = await grpcHealthServer((service) =>
      service === "envoy.service.auth.v3.Authorization" ? "SERVING" : "SERVICE_UNKNOWN",
    );
    expect((await runCheck(`${target}/envoy.service.auth.v3.Authorization`)).code).toBe(0);
    expect((await runCheck(`${target}/other`)).code).toBe(1);
  });

  it("fails on an unreachable target", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    expect((await runCheck(`http://127.0.0.1:${port}/health`)).code).toBe(1);
    const grpcResult = await runCheck(`grpc://127.0.0.1:${port}`, {
      HEALTHCHECK_TIMEOUT_MS: "1000",
    });
    expect(grpcResult.code).toBe(1);
  });

  it.each([[undefined], ["not a url"], ["ftp://127.0.0.1/x"]])(
    "rejects target %j",
    async (target) => {
      const result = await runCheck(target);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/healthcheck: /);
    },
  );
});
