import { describe, expect, it } from "vitest";
import { decodeCheckRequest, encodeCheckRequest } from "../../contract/src/authz-wire.ts";
import { sha256Hex } from "../../contract/src/digest.ts";
import { signVerdict, verifyVerdict } from "../../contract/src/verdict.ts";
import { applyCheckResponse, buildCheckRequest } from "../src/direct-authz.ts";
import type { RouterRequest } from "../src/http-types.ts";

describe("applying a CheckResponse as Envoy does", () => {
  const request = {
    authorization: "Bearer t",
    "x-gateway-verdict": "client-copy",
    "x-gateway-auth": "x",
    accept: "a",
  };

  it("allow: overwrites, appends, removes, and drops client copies of gateway headers", () => {
    const applied = applyCheckResponse(
      {
        status: { code: 0 },
        ok_response: {
          headers: [
            {
              header: { key: "X-Gateway-Verdict", value: "signed" },
              append: { value: false },
              append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
            },
            { header: { key: "accept", value: "b" }, append: { value: true } },
            { header: { key: "x-new", value: "n" }, append_action: "ADD_IF_ABSENT" },
            { header: { key: "x-absent", value: "n" }, append_action: "OVERWRITE_IF_EXISTS" },
            { header: { key: "x-raw", raw_value: Buffer.from("raw") } },
          ],
          headers_to_remove: ["Authorization"],
          response_headers_to_add: [{ header: { key: "x-ratelimit-remaining", value: "9" } }],
        },
      },
      request,
    );
    expect(applied).toEqual({
      kind: "allow",
      headers: { accept: "a, b", "x-gateway-verdict": "signed", "x-new": "n", "x-raw": "raw" },
      responseHeaders: { "x-ratelimit-remaining": "9" },
    });
  });

  it("allow without a verdict leaves none (a client copy never survives)", () => {
    const applied = applyCheckResponse(
      { status: { code: 0 }, ok_response: { headers: [], headers_to_remove: [] } },
      request,
    );
    expect(applied).toEqual({
      kind: "allow",
      headers: { authorization: "Bearer t", accept: "a" },
      responseHeaders: {},
    });
  });

  it("deny: local reply with the given status, headers and body", () => {
    const applied = applyCheckResponse(
      {
        status: { code: 8 },
        denied_response: {
          status: { code: "TooManyRequests" },
          headers: [{ header: { key: "retry-after", value: "3" } }],
          body: "{}",
        },
      },
      request,
    );
    expect(applied).toEqual({
      kind: "deny",
      status: 429,
      response: { status: 429, headers: { "retry-after": "3" }, body: "{}" },
    });
  });

  it("deny from an error_response when there is no denied_response", () => {
    const applied = applyCheckResponse(
      {
        status: { code: 14 },
        error_response: { status: { code: "ServiceUnavailable" }, headers: [], body: "x" },
      },
      request,
    );
    expect(applied).toEqual({
      kind: "deny",
      status: 503,
      response: { status: 503, headers: {}, body: "x" },
    });
  });

  it("applies each append action only where Envoy does", () => {
    const applied = applyCheckResponse(
      {
        status: { code: 0 },
        ok_response: {
          headers: [
            // ADD_IF_ABSENT on a header the request has: kept as sent.
            { header: { key: "accept", value: "other" }, append_action: "ADD_IF_ABSENT" },
            // OVERWRITE_IF_EXISTS on a header the request has: replaced.
            { header: { key: "authorization", value: "x" }, append_action: "OVERWRITE_IF_EXISTS" },
            // append: true on a header nobody set: just set.
            { header: { key: "x-first", value: "1" }, append: { value: true } },
            // An empty value is dropped unless keep_empty_value says otherwise.
            { header: { key: "x-empty", value: "" } },
            { header: { key: "x-kept-empty", value: "" }, keep_empty_value: true },
            // A header without a key, or without a header at all, changes nothing.
            { header: { key: "", value: "v" } },
            { header: null },
          ],
          headers_to_remove: [],
        },
      },
      request,
    );
    expect(applied).toEqual({
      kind: "allow",
      headers: { authorization: "x", accept: "a", "x-first": "1", "x-kept-empty": "" },
      responseHeaders: {},
    });
  });

  it("deny without a denied_response is a bare 403", () => {
    const applied = applyCheckResponse({ status: { code: 7 } }, request);
    expect(applied).toMatchObject({ kind: "deny", status: 403 });
  });
});

describe("building the CheckRequest as Envoy does (pack_as_bytes)", () => {
  const request: RouterRequest = {
    method: "DELETE",
    path: "/calculator/mcp",
    target: "/calculator/mcp",
    headers: { host: "gw.example", "content-type": "application/octet-stream" },
    remoteAddress: "127.0.0.1",
    remotePort: 50000,
    localAddress: "127.0.0.1",
    localPort: 8000,
    httpVersion: "1.1",
    readBody: () => Promise.reject(new Error("not read here")),
    signal: new AbortController().signal,
  };
  const build = (body: Buffer) =>
    buildCheckRequest({
      request,
      body,
      requestId: "req-1",
      streamId: "1",
      contextExtensions: { scope: "calculator" },
    });
  /** The bytes an Envoy-compatible server decides on (and whose digest its verdict signs). */
  const bytesSeenByServer = (http: NonNullable<ReturnType<typeof decodeHttp>>): Uint8Array =>
    http.raw_body !== undefined && http.raw_body.byteLength > 0
      ? http.raw_body
      : Buffer.from(http.body ?? "", "utf8");
  function decodeHttp(checkRequest: ReturnType<typeof build>) {
    return decodeCheckRequest(encodeCheckRequest(checkRequest)).attributes?.request?.http;
  }

  it("sends a non-UTF-8 body as exact bytes, so the verdict digest matches the body", () => {
    const body = Buffer.from([0x7b, 0xff, 0xfe, 0x80, 0xc3, 0x7d]);
    const http = decodeHttp(build(body));
    expect(http).toBeDefined();
    expect(Buffer.from(http!.raw_body!)).toEqual(body);
    expect(http!.body ?? "").toBe("");
    expect(Number(http!.size)).toBe(6);

    const digestSigned = sha256Hex(bytesSeenByServer(http!));
    expect(digestSigned).toBe(sha256Hex(body));
    const key = "verdict-key-0123456789-abcdefghijklmnop-XYZ";
    const now = Date.UTC(2026, 0, 1);
    const verdict = signVerdict(
      {
        requestId: "req-1",
        subject: "alice",
        tenant: null,
        roles: ["developer"],
        scope: "calculator",
        tools: [],
        bodyDigest: digestSigned,
        exp: now / 1000 + 30,
      },
      key,
    );
    // The router checks the verdict against the bytes it forwards.
    expect(
      verifyVerdict(verdict, { key, bodyDigest: sha256Hex(body), scope: "calculator", now }).ok,
    ).toBe(true);
  });

  it("counts size in bytes, not characters", () => {
    const body = Buffer.from('{"q":"é€"}', "utf8");
    const http = decodeHttp(build(body));
    expect(Number(http!.size)).toBe(body.byteLength);
    expect(Buffer.from(http!.raw_body!)).toEqual(body);
  });

  it("leaves out hop-by-hop headers and Host, keeps a sent Content-Length and unknown peers", () => {
    const checkRequest = buildCheckRequest({
      request: {
        ...request,
        headers: {
          connection: "keep-alive",
          "keep-alive": "timeout=5",
          "content-length": "3",
          "x-request-id": "client-chosen",
        },
        remoteAddress: undefined,
        remotePort: undefined,
        localAddress: "127.0.0.1",
        localPort: undefined,
      },
      body: Buffer.from("abc"),
      requestId: "req-2",
      streamId: "2",
      contextExtensions: {},
    });
    const http = checkRequest.attributes!.request!.http!;
    expect(http.headers).toEqual({
      "content-length": "3",
      "x-request-id": "req-2",
      ":authority": "",
      ":method": "DELETE",
      ":path": "/calculator/mcp",
      ":scheme": "http",
      "x-forwarded-proto": "http",
    });
    expect(http.host).toBe("");
    expect(checkRequest.attributes!.source).toBeNull();
    expect(checkRequest.attributes!.destination).toEqual({
      address: { socket_address: { protocol: "TCP", address: "127.0.0.1", port_value: 0 } },
    });
  });

  it("sends no body fields' content for an empty body", () => {
    const http = decodeHttp(build(Buffer.alloc(0)));
    expect(Number(http!.size)).toBe(0);
    expect(http!.raw_body?.byteLength ?? 0).toBe(0);
  });
});
