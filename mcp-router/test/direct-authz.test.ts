import { describe, expect, it } from "vitest";
import { applyCheckResponse } from "../src/direct-authz.ts";

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

  it("deny without a denied_response is a bare 403", () => {
    const applied = applyCheckResponse({ status: { code: 7 } }, request);
    expect(applied).toMatchObject({ kind: "deny", status: 403 });
  });
});
