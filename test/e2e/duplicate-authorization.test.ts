import http from "node:http";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ALICE,
  BOB,
  modernHeaders,
  modernRequest,
  startE2eStack,
  type E2eStack,
} from "./stack-fixture.ts";

/**
 * Two Authorization headers, through the direct-mode stack (router + real ext-authz). Node keeps
 * only the first of them in `req.headers`; the router must not let that pick the credential.
 */

let e2e: E2eStack;
beforeAll(async () => {
  e2e = await startE2eStack();
});
afterAll(async () => {
  await e2e?.close();
});

const BODY = JSON.stringify(modernRequest("tools/list"));

/** POSTs with each entry of `authorization` as its own header line. */
async function post(authorization: string[]) {
  const url = new URL(e2e.endpoint("calculator"));
  const request = http.request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: "POST",
    headers: { ...modernHeaders("tools/list"), "content-length": String(Buffer.byteLength(BODY)) },
  });
  request.setHeader("authorization", authorization);
  request.end(BODY);
  const [response] = (await once(request, "response")) as [http.IncomingMessage];
  response.resume();
  await once(response, "end");
  return { status: response.statusCode, challenge: response.headers["www-authenticate"] };
}

describe("two Authorization headers in direct mode", () => {
  it("accepts one (the control)", async () => {
    expect((await post([`Bearer ${await e2e.token(ALICE)}`])).status).toBe(200);
  });

  it.each([
    [
      "two valid tokens of different users",
      async () => [await e2e.token(ALICE), await e2e.token(BOB)],
    ],
    [
      "the same valid token twice",
      async () => {
        const t = await e2e.token(ALICE);
        return [t, t];
      },
    ],
    ["a valid token, then garbage", async () => [await e2e.token(ALICE), "garbage"]],
    ["garbage, then a valid token", async () => ["garbage", await e2e.token(ALICE)]],
  ])("refuses %s with 401 invalid_token", async (_name, tokens) => {
    const reply = await post((await tokens()).map((token) => `Bearer ${token}`));
    expect(reply.status).toBe(401);
    expect(reply.challenge).toMatch(/^Bearer error="invalid_token"/);
  });

  it("refuses one header that folds two credentials with a comma", async () => {
    const token = await e2e.token(ALICE);
    const reply = await post([`Bearer ${token}, Bearer ${token}`]);
    expect(reply.status).toBe(401);
    expect(reply.challenge).toMatch(/^Bearer error="invalid_token"/);
  });
});
