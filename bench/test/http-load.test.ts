import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runLoad } from "../http-load.ts";

/** Answers 503 to every fifth request, 200 otherwise, and remembers when each arrived. */
let server: Server;
let url: string;
const arrivals: { at: number; requestId: string }[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    arrivals.push({ at: performance.now(), requestId: String(request.headers["x-request-id"]) });
    request.resume();
    request.on("end", () => {
      const status = arrivals.length % 5 === 0 ? 503 : 200;
      response.writeHead(status, { "content-type": "application/json", "x-seen": "yes" });
      response.end("{}");
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
});

afterAll(() => {
  server.close();
});

describe("runLoad at a fixed rate", () => {
  it("spreads the requests evenly over the run instead of sending each second's share at once", async () => {
    arrivals.length = 0;
    let counter = 0;
    const answers: unknown[] = [];
    const result = await runLoad(
      {
        url,
        headers: { "content-type": "application/json" },
        body: "{}",
        perRequestHeaders: () => ({ "x-request-id": `r-${(counter += 1)}` }),
      },
      {
        connections: 4,
        durationS: 1,
        rate: 100,
        onAnswer: (_status, headers) => answers.push(headers["x-seen"]),
      },
    );
    expect(result).toMatchObject({ sent: 100, answered: 100, ok: 80, errors: 0 });
    expect(result.refused).toEqual(new Map([[503, 20]]));
    expect(answers).toHaveLength(100);
    expect(new Set(answers)).toEqual(new Set(["yes"]));
    // One request every 10 ms: the last one is due 990 ms after the first. autocannon's rate
    // option would have sent all 100 within the first few milliseconds of the second.
    expect(arrivals.at(-1)!.at - arrivals[0]!.at).toBeGreaterThanOrEqual(900);
    expect(result.seconds).toBeGreaterThanOrEqual(0.99);
    expect(new Set(arrivals.map((arrival) => arrival.requestId)).size).toBe(100);
    expect(result.p50).toBeGreaterThan(0);
    expect(result.p99).toBeGreaterThanOrEqual(result.p50);
  });
});
