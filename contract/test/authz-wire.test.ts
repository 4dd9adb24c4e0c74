import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  authorizationService,
  createAuthzClient,
  decodeCheckRequest,
  decodeCheckResponse,
  encodeCheckRequest,
  encodeCheckResponse,
  healthService,
  httpStatusNumber,
  type CheckRequest,
  type CheckResponse,
} from "../src/authz-wire.ts";

const request: CheckRequest = {
  attributes: {
    source: {
      address: { socket_address: { address: "10.0.0.7", port_value: 51234 } },
      principal: "",
    },
    request: {
      time: { seconds: "1767225600", nanos: 5 },
      http: {
        id: "1234567890",
        method: "POST",
        path: "/calculator/mcp?x=1",
        host: "gateway.example",
        scheme: "https",
        protocol: "HTTP/1.1",
        size: "54",
        headers: {
          ":path": "/calculator/mcp?x=1",
          ":method": "POST",
          authorization: "Bearer abc",
          "content-type": "application/json",
        },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
      },
    },
    context_extensions: { scope: "calculator" },
    tls_session: { sni: "gateway.example" },
  },
};

const allow: CheckResponse = {
  status: { code: 0, message: "" },
  ok_response: {
    headers: [
      {
        header: { key: "x-user-id", value: "alice" },
        append: { value: false },
        append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
      },
    ],
    headers_to_remove: ["authorization", "x-gateway-auth"],
  },
};

const deny: CheckResponse = {
  status: { code: 16, message: "invalid_token" },
  denied_response: {
    status: { code: "Unauthorized" },
    headers: [{ header: { key: "www-authenticate", value: 'Bearer error="invalid_token"' } }],
    body: '{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Unauthorized"}}',
  },
};

describe("authz wire round trip", () => {
  it("keeps every CheckRequest field through encode/decode", () => {
    const decoded = decodeCheckRequest(encodeCheckRequest(request));
    const http = decoded.attributes?.request?.http;
    expect(http?.method).toBe("POST");
    expect(http?.path).toBe("/calculator/mcp?x=1");
    expect(http?.size).toBe("54");
    expect(http?.headers).toEqual(request.attributes?.request?.http?.headers);
    expect(http?.body).toBe(request.attributes?.request?.http?.body);
    expect(decoded.attributes?.context_extensions).toEqual({ scope: "calculator" });
    expect(decoded.attributes?.request?.time).toEqual({ seconds: "1767225600", nanos: 5 });
    expect(decoded.attributes?.source?.address?.address).toBe("socket_address");
    expect(decoded.attributes?.source?.address?.socket_address?.port_value).toBe(51234);
    expect(decoded.attributes?.tls_session?.sni).toBe("gateway.example");
  });

  it("carries raw_body bytes for pack_as_bytes", () => {
    const bytes = Buffer.from([0x7b, 0x7d, 0xff]);
    const decoded = decodeCheckRequest(
      encodeCheckRequest({ attributes: { request: { http: { raw_body: bytes } } } }),
    );
    expect(Buffer.from(decoded.attributes!.request!.http!.raw_body!)).toEqual(bytes);
  });

  it("keeps allow mutations including an explicit append=false", () => {
    const decoded = decodeCheckResponse(encodeCheckResponse(allow));
    expect(decoded.http_response).toBe("ok_response");
    expect(decoded.status?.code).toBe(0);
    const option = decoded.ok_response!.headers[0]!;
    expect(option.header?.key).toBe("x-user-id");
    expect(option.append).toEqual({ value: false });
    expect(option.append_action).toBe("OVERWRITE_IF_EXISTS_OR_ADD");
    expect(decoded.ok_response!.headers_to_remove).toEqual(["authorization", "x-gateway-auth"]);
  });

  it("keeps a deny and maps its HTTP status", () => {
    const decoded = decodeCheckResponse(encodeCheckResponse(deny));
    expect(decoded.http_response).toBe("denied_response");
    expect(decoded.status?.code).toBe(16);
    expect(decoded.denied_response?.status?.code).toBe("Unauthorized");
    expect(httpStatusNumber(decoded.denied_response?.status)).toBe(401);
    expect(decoded.denied_response?.body).toBe(deny.denied_response?.body);
  });

  it("maps an unset or zero denied status to 403 like Envoy", () => {
    expect(httpStatusNumber(null)).toBe(403);
    expect(httpStatusNumber({ code: "Empty" })).toBe(403);
    expect(httpStatusNumber({ code: 429 })).toBe(429);
  });

  it("encodes the wire tags Envoy uses", () => {
    // CheckRequest.attributes is field 1 (tag 0x0a), AttributeContext.context_extensions field 10
    // (tag 0x52): a wrong number would change these bytes.
    const bytes = encodeCheckRequest({ attributes: { context_extensions: { s: "c" } } });
    expect(bytes[0]).toBe(0x0a);
    expect(bytes[2]).toBe(0x52);
    // CheckResponse.ok_response is field 3 (tag 0x1a); headers_to_remove field 5 (tag 0x2a).
    const ok = encodeCheckResponse({
      status: null,
      ok_response: { headers: [], headers_to_remove: ["a"] },
    });
    expect([...ok]).toEqual([0x1a, 0x03, 0x2a, 0x01, 0x61]);
  });
});

describe("createAuthzClient", () => {
  let server: grpc.Server;
  let port = 0;
  let seen: CheckRequest | undefined;

  beforeAll(async () => {
    server = new grpc.Server();
    server.addService(authorizationService, {
      Check(
        call: grpc.ServerUnaryCall<CheckRequest, CheckResponse>,
        callback: grpc.sendUnaryData<CheckResponse>,
      ) {
        seen = call.request;
        const path = call.request.attributes?.request?.http?.path;
        if (path === "/fail") callback({ code: grpc.status.INTERNAL, details: "x" }, null);
        else callback(null, path === "/deny" ? deny : allow);
      },
    });
    server.addService(healthService, {
      Check(_call: unknown, callback: grpc.sendUnaryData<{ status: string }>) {
        callback(null, { status: "SERVING" });
      },
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
  });
  afterAll(() => server.forceShutdown());

  it("sends the request and resolves allow, deny and health", async () => {
    const client = createAuthzClient(`127.0.0.1:${port}`);
    try {
      const ok = await client.check(request, { deadlineMs: 2000 });
      expect(ok.http_response).toBe("ok_response");
      expect(seen?.attributes?.request?.http?.body).toBe(request.attributes?.request?.http?.body);
      const denied = await client.check(
        { attributes: { request: { http: { path: "/deny" } } } },
        { deadlineMs: 2000 },
      );
      expect(denied.status?.code).toBe(16);
      expect(await client.health()).toEqual({ status: "SERVING" });
    } finally {
      client.close();
    }
  });

  it("rejects on an RPC error and on an unreachable server", async () => {
    const client = createAuthzClient(`127.0.0.1:${port}`);
    try {
      await expect(
        client.check(
          { attributes: { request: { http: { path: "/fail" } } } },
          { deadlineMs: 2000 },
        ),
      ).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    } finally {
      client.close();
    }
    const closed = createAuthzClient("127.0.0.1:1");
    try {
      await expect(closed.check(request, { deadlineMs: 300 })).rejects.toBeTruthy();
    } finally {
      closed.close();
    }
  });
});
