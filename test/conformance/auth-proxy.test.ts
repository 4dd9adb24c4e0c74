import { once } from "node:events";
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startAuthProxy, type AuthProxy, type ExchangeRecord } from "./auth-proxy.ts";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function upstream(handler: Handler): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxyTo(
  handler: Handler,
  onExchange?: (record: ExchangeRecord) => void,
  { tokenless = false }: { tokenless?: boolean } = {},
): Promise<{ proxy: AuthProxy; server: Server }> {
  const { server, url } = await upstream(handler);
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const proxy = await startAuthProxy({
    upstream: url,
    token: tokenless ? undefined : "t0ken",
    label: "test",
    ...(onExchange ? { onExchange } : {}),
  });
  cleanups.push(() => proxy.close());
  return { proxy, server };
}

describe("auth proxy", () => {
  it("adds the bearer token, replaces a client's own, and forwards the rest unchanged", async () => {
    let seen: IncomingMessage | undefined;
    let body = "";
    const { proxy } = await proxyTo((req, res) => {
      seen = req;
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (body += chunk));
      req.on("end", () => {
        res.writeHead(418, { "x-up": "1", "content-type": "application/json" });
        res.end('{"ok":true}');
      });
    });
    const response = await fetch(`${proxy.url}/calculator/mcp?x=1`, {
      method: "POST",
      headers: {
        authorization: "Bearer client-token",
        origin: "http://evil.example",
        "mcp-protocol-version": "2026-07-28",
      },
      body: '{"jsonrpc":"2.0"}',
    });
    expect(response.status).toBe(418);
    expect(response.headers.get("x-up")).toBe("1");
    expect(await response.text()).toBe('{"ok":true}');
    expect(seen?.url).toBe("/calculator/mcp?x=1");
    expect(seen?.method).toBe("POST");
    expect(seen?.headers.authorization).toBe("Bearer t0ken");
    expect(seen?.headers.origin).toBe("http://evil.example");
    expect(seen?.headers["mcp-protocol-version"]).toBe("2026-07-28");
    expect(seen?.headers.host).toBe(new URL(proxy.url).host);
    expect(body).toBe('{"jsonrpc":"2.0"}');
  });

  it("without a token (a recording hop) passes the client's Authorization as it came", async () => {
    const seen: (string | undefined)[] = [];
    const { proxy } = await proxyTo(
      (req, res) => {
        seen.push(req.headers.authorization);
        res.writeHead(204).end();
      },
      undefined,
      { tokenless: true },
    );
    await fetch(`${proxy.url}/mcp`, { headers: { authorization: "Bearer mine" } });
    await fetch(`${proxy.url}/mcp`);
    expect(seen).toEqual(["Bearer mine", undefined]);
  });

  it("passes an SSE stream through event by event, before the upstream ends it", async () => {
    let release: (() => void) | undefined;
    const { proxy } = await proxyTo((_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write("id: 1\ndata: first\n\n");
      release = () => res.end("id: 2\ndata: second\n\n");
    });
    const response = await fetch(`${proxy.url}/sse`);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    // The upstream holds the stream open until released: the first event must arrive on its own.
    while (!text.endsWith("first\n\n")) {
      const chunk = await reader.read();
      expect(chunk.done).toBe(false);
      text += decoder.decode(chunk.value, { stream: true });
    }
    expect(text).toBe("id: 1\ndata: first\n\n");
    release!();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true });
    }
    expect(text).toBe("id: 1\ndata: first\n\nid: 2\ndata: second\n\n");
  });

  it("closes the upstream request when the client hangs up", async () => {
    let upstreamClosed: Promise<unknown> | undefined;
    const { proxy } = await proxyTo((req, res) => {
      upstreamClosed = once(res, "close");
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(": open\n\n");
    });
    const client = request(`${proxy.url}/sse`);
    client.end();
    const [response] = (await once(client, "response")) as [IncomingMessage];
    await once(response, "data");
    client.destroy();
    await upstreamClosed;
  });

  it("records each exchange with the token redacted", async () => {
    const records: ExchangeRecord[] = [];
    const { proxy } = await proxyTo(
      (_req, res) => res.writeHead(202).end(),
      (record) => records.push(record),
    );
    const response = await fetch(proxy.url, { method: "POST", body: "{}" });
    expect(response.status).toBe(202);
    await response.text();
    await proxy.close();
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      label: "test",
      request: { method: "POST", path: "/", body: "{}" },
      response: { status: 202, complete: true },
    });
    expect(JSON.stringify(records)).not.toContain("t0ken");
  });
});
