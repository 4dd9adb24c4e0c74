/**
 * The in-process Check client against the gRPC server's own answer path: what a fault, a slow
 * check and a closed server become (the decisions themselves are compared with a gRPC client's
 * in grpc-server.test.ts).
 */
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import type { CheckRequest, CheckResponse } from "../../contract/src/authz-wire.ts";
import { createLogger } from "../../contract/src/log.ts";
import { startGrpcServer, type RunningGrpcServer } from "../src/envoy/grpc-server.ts";
import { checkRequest } from "./fixture-config.ts";

const ALLOW: CheckResponse = {
  status: { code: 0 },
  ok_response: { headers: [], headers_to_remove: [] },
};

function recordingLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    name: "ext-authz-test",
    level: "info",
    destination: {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    },
  });
  return { logger, lines };
}

describe("in-process Check client", () => {
  let server: RunningGrpcServer | undefined;
  afterEach(async () => {
    await server?.close(0);
    server = undefined;
  });

  async function serve(
    check: (request: CheckRequest) => Promise<CheckResponse>,
    logger = recordingLogger().logger,
  ) {
    server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      maxReceiveBytes: 4096,
      check,
      logger,
    });
    server.setServing(true);
    return server.inProcessClient();
  }

  it("hands ext-authz the request as the wire decodes it and returns the decoded answer", async () => {
    const seen: CheckRequest[] = [];
    const client = await serve(async (request) => {
      seen.push(request);
      return ALLOW;
    });
    const request = checkRequest({ path: "/calculator/mcp", body: "{}" });
    const response = await client.check(request, { deadlineMs: 1000 });
    // Decoded as grpc-js decodes: defaults present and the oneof named.
    expect(response).toMatchObject({
      status: { code: 0, message: "" },
      http_response: "ok_response",
    });
    expect(seen[0]?.attributes?.request?.http?.path).toBe("/calculator/mcp");
    expect(seen[0]?.attributes?.request?.http?.body).toBe("{}");
    // A size given as a string crosses as the int64 decimal string proto-loader makes of it.
    expect(seen[0]?.attributes?.request?.http?.size).toBe("2");
    expect(seen[0]).not.toBe(request);
  });

  it("turns a fault inside the check into INTERNAL, logged without its details reaching the router", async () => {
    const { logger, lines } = recordingLogger();
    const client = await serve(
      () => Promise.reject(new Error("redis exploded: secret-ish")),
      logger,
    );
    const failure = client.check(checkRequest({ path: "/calculator/mcp" }), { deadlineMs: 1000 });
    await expect(failure).rejects.toMatchObject({
      code: grpc.status.INTERNAL,
      details: "internal error",
    });
    await expect(failure).rejects.not.toMatchObject({ message: expect.stringContaining("redis") });
    expect(lines).toEqual([
      expect.objectContaining({
        msg: "check failed internally",
        err: expect.objectContaining({ name: "Error", message: "redis exploded: secret-ish" }),
      }),
    ]);
  });

  it("gives up at the deadline with DEADLINE_EXCEEDED", async () => {
    let finish: (response: CheckResponse) => void = () => undefined;
    const client = await serve(() => new Promise<CheckResponse>((resolve) => (finish = resolve)));
    await expect(
      client.check(checkRequest({ path: "/calculator/mcp" }), { deadlineMs: 20 }),
    ).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    finish(ALLOW);
  });

  it("refuses a request over the receive limit with RESOURCE_EXHAUSTED, before ext-authz sees it", async () => {
    const seen: CheckRequest[] = [];
    const client = await serve(async (request) => {
      seen.push(request);
      return ALLOW;
    });
    const huge = checkRequest({ path: "/calculator/mcp", body: "x".repeat(8192) });
    await expect(client.check(huge, { deadlineMs: 1000 })).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
    });
    expect(seen).toEqual([]);
  });

  it("answers UNAVAILABLE once the server has closed, for checks and health alike", async () => {
    const client = await serve(async () => ALLOW);
    expect(await client.health()).toEqual({ status: "SERVING" });
    await server!.close(0);
    await expect(
      client.check(checkRequest({ path: "/calculator/mcp" }), { deadlineMs: 1000 }),
    ).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await expect(client.health()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});
