import { describe, expect, it } from "vitest";
import { checkResponse } from "../src/envoy/check-response.ts";
import { decide } from "../src/policy/decide.ts";
import { bearerToken } from "../src/policy/token.ts";
import { decisionDeps, makeToken, VERDICT_KEY } from "./fixture-config.ts";

/**
 * One credential per request. Envoy hands ext-authz repeated headers joined with "," (and the
 * router in direct mode does the same), so two Authorization headers arrive as one value with a
 * comma; so does a header a client folded itself. Neither may be read as "the first token".
 */

const PING = '{"jsonrpc":"2.0","id":7,"method":"ping"}';

async function answer(authorization: string) {
  const headers = { authorization, "x-request-id": "req-auth" };
  const decision = await decide(
    {
      method: "POST",
      path: "/calculator/mcp",
      headers,
      body: new TextEncoder().encode(PING),
      contextScope: undefined,
    },
    decisionDeps(),
  );
  const response = checkResponse(decision, headers, VERDICT_KEY);
  const denied = response.denied_response;
  return {
    decision,
    status: denied?.status?.code ?? 200,
    headers: Object.fromEntries(
      (denied?.headers ?? []).map((option) => [option.header!.key, option.header!.value!]),
    ),
    body:
      denied === undefined || denied === null ? undefined : (JSON.parse(denied.body) as unknown),
  };
}

describe("bearerToken", () => {
  it.each([
    ["Bearer abc.def.ghi", "abc.def.ghi"],
    ["bearer abc", "abc"],
    ["BEARER  abc  ", "abc"],
    ["Bearer a-b_c~d+e/f.g", "a-b_c~d+e/f.g"],
    ["Bearer abc==", "abc=="],
  ])("reads %j as the token %j", (header, token) => {
    expect(bearerToken(header)).toEqual({ kind: "token", token });
  });

  it.each([
    ["two headers joined by a proxy", "Bearer aaa.bbb.ccc,Bearer ddd.eee.fff"],
    ["two headers joined with a space", "Bearer aaa.bbb.ccc, Bearer ddd.eee.fff"],
    ["the same token twice", "Bearer aaa.bbb.ccc,Bearer aaa.bbb.ccc"],
    ["a token folded with a comma", "Bearer aaa.bbb.ccc,ddd"],
    ["a trailing comma", "Bearer aaa.bbb.ccc,"],
    ["another scheme after it", "Bearer aaa.bbb.ccc, Basic dXNlcjpwYXNz"],
    ["padding inside the token", "Bearer ab=c"],
    ["a quote", 'Bearer "abc"'],
    ["a tab before the token", "Bearer\tabc"],
    ["no token", "Bearer "],
    ["another scheme", "Basic dXNlcjpwYXNz"],
  ])("refuses %s as malformed", (_name, header) => {
    expect(bearerToken(header)).toEqual({ kind: "malformed" });
  });

  it.each([undefined, "", "   "])("treats %j as no credential", (header) => {
    expect(bearerToken(header)).toEqual({ kind: "absent" });
  });
});

describe("two credentials in one request", () => {
  it("allows one valid token (the control)", async () => {
    const token = await makeToken();
    expect((await answer(`Bearer ${token}`)).decision.outcome).toBe("allow");
  });

  it.each([
    ["joined by Envoy", (a: string, b: string) => `Bearer ${a},Bearer ${b}`],
    ["folded by the client", (a: string, b: string) => `Bearer ${a}, Bearer ${b}`],
    ["a valid token, then garbage", (a: string) => `Bearer ${a},x`],
    ["the same valid token twice", (a: string) => `Bearer ${a},Bearer ${a}`],
  ])("refuses two credentials %s with the usual 401 challenge", async (_name, join) => {
    const alice = await makeToken();
    const bob = await makeToken({ sub: "bob" });
    const reply = await answer(join(alice, bob));
    expect(reply.decision).toMatchObject({ outcome: "deny", reason: "token_malformed" });
    expect(reply.status).toBe(401);
    expect(reply.headers["www-authenticate"]).toBe(
      'Bearer error="invalid_token", error_description="The access token is malformed", ' +
        'resource_metadata="https://gw.example/.well-known/oauth-protected-resource/calculator/mcp"',
    );
    expect(reply.body).toMatchObject({
      jsonrpc: "2.0",
      id: 7,
      error: { data: { code: "GW_TOKEN_INVALID" } },
    });
  });
});
