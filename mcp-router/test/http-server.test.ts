import { once } from "node:events";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { listen, type HttpServerHandle } from "../src/http-server.ts";
import { createChannel } from "../src/mcp-answer.ts";
import { quietLogger } from "./router-harness.ts";

let server: HttpServerHandle | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const TIMEOUTS = { headersMs: 150, requestMs: 200, checkIntervalMs: 50 };

/** Opens a raw connection and sends headers plus one byte of a 100-byte body, then stalls. */
async function stalledPost(port: number): Promise<{ socket: net.Socket; received: () => string }> {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  let text = "";
  socket.on("data", (chunk: Buffer) => {
    text += chunk.toString("latin1");
  });
  socket.write(
    "POST /calc/mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
      "content-length: 100\r\n\r\n{",
  );
  return { socket, received: () => text };
}

describe("request timeouts", () => {
  it("closes a connection whose request body stalls (slow loris)", async () => {
    server = await listen({
      handler: async (request) => {
        const read = await request.readBody();
        return { status: read.ok ? 200 : 400, body: "" };
      },
      host: "127.0.0.1",
      port: 0,
      maxRequestBytes: 1024,
      logger: quietLogger,
      timeouts: TIMEOUTS,
    });
    const { socket, received } = await stalledPost(server.port);
    await once(socket, "close");
    expect(received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it("does not cut short a response that outlives the request timeout", async () => {
    const events = createChannel<string>();
    let streamStarted: () => void = () => undefined;
    const started = new Promise<void>((resolve) => {
      streamStarted = resolve;
    });
    server = await listen({
      handler: async (request) => {
        if (request.path === "/stream") {
          streamStarted();
          return { status: 200, events };
        }
        await request.readBody();
        return { status: 200, body: "" };
      },
      host: "127.0.0.1",
      port: 0,
      maxRequestBytes: 1024,
      logger: quietLogger,
      timeouts: TIMEOUTS,
    });
    const stream = await fetch(`http://127.0.0.1:${server.port}/stream`);
    await started;
    events.push("event: message\ndata: 1\n\n");
    // A stalled request opened after the stream was closed by the timeout checker: the stream is
    // older than that request, so it was past the timeout too and must still be open.
    const { socket } = await stalledPost(server.port);
    await once(socket, "close");
    events.push("event: message\ndata: 2\n\n");
    events.close();
    expect(await stream.text()).toBe("event: message\ndata: 1\n\nevent: message\ndata: 2\n\n");
  });
});
