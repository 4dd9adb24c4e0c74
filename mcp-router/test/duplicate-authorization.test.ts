import { once } from "node:events";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listen, type HttpServerHandle } from "../src/http-server.ts";
import { quietLogger } from "./router-harness.ts";

/**
 * What the router hands on (to ext-authz in direct mode) when a request repeats Authorization:
 * every value, joined with "," as Envoy joins them, never only the first one Node kept.
 */

let server: HttpServerHandle;
beforeAll(async () => {
  server = await listen({
    handler: async (request) => ({
      status: 200,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ authorization: request.headers.authorization ?? null }),
    }),
    host: "127.0.0.1",
    port: 0,
    maxRequestBytes: 1024,
    logger: quietLogger,
  });
});
afterAll(async () => {
  await server.close();
});

async function seenAuthorization(values: string[] | undefined): Promise<unknown> {
  const request = http.request({ host: "127.0.0.1", port: server.port, path: "/", method: "GET" });
  if (values !== undefined) request.setHeader("authorization", values);
  request.end();
  const [response] = (await once(request, "response")) as [http.IncomingMessage];
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { authorization: unknown })
    .authorization;
}

describe("repeated Authorization headers", () => {
  it("passes one header on unchanged", async () => {
    expect(await seenAuthorization(["Bearer a.b.c"])).toBe("Bearer a.b.c");
  });

  it("passes no header on as none", async () => {
    expect(await seenAuthorization(undefined)).toBeNull();
  });

  it("joins two headers with a comma instead of keeping the first", async () => {
    expect(await seenAuthorization(["Bearer a.b.c", "Bearer d.e.f"])).toBe(
      "Bearer a.b.c,Bearer d.e.f",
    );
  });

  it("keeps every one of three, in order", async () => {
    expect(await seenAuthorization(["Bearer x", "Basic y", "Bearer z"])).toBe(
      "Bearer x,Basic y,Bearer z",
    );
  });
});
