import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
import { postMcp, startRouterFixture, type RouterFixture } from "./router-harness.ts";

/**
 * A stopping router (SIGTERM) fails readiness, accepts no new connection, and lets a call that
 * already reached a tool finish and be answered instead of resetting it.
 */

let fixture: RouterFixture;
beforeAll(async () => {
  fixture = await startRouterFixture({ router: { drainTimeoutMs: 10_000 } });
});
afterAll(async () => {
  await fixture.close();
});

function slowCall(ms: number) {
  return postMcp(
    `${fixture.router.url}/calc/mcp`,
    {
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: {
        name: "slow",
        arguments: { ms },
        _meta: { [META_KEY.protocolVersion]: "2026-07-28", [META_KEY.clientCapabilities]: {} },
      },
    },
    {
      identity: { subject: "alice", tenant: "acme", roles: ["developer"], tools: ["slow"] },
      headers: {
        [HEADER.mcpProtocolVersion]: "2026-07-28",
        [HEADER.mcpMethod]: "tools/call",
        [HEADER.mcpName]: "slow",
      },
    },
  );
}

describe("graceful drain", () => {
  it("answers the call in progress, then stops; new connections are refused meanwhile", async () => {
    const ready = await fetch(`${fixture.router.url}/ready`);
    expect(ready.status).toBe(200);

    const reachedTool = once(fixture.backend.events, "call");
    const inProgress = slowCall(400);
    await reachedTool;

    const closing = fixture.router.close();
    // No new connection once the stop has begun (a balancer's probe fails the same way).
    await expect(
      fetch(`${fixture.router.url}/ready`, { headers: { connection: "close" } }),
    ).rejects.toThrow();

    const response = await inProgress;
    expect(response.status).toBe(200);
    expect(response.headers.get("connection")).toBe("close");
    const message = (await response.json()) as { result?: { content?: { text?: string }[] } };
    expect(message.result?.content?.[0]?.text).toBe("done");
    await closing;
    // The call was audited as served, not cut short.
    const rows = await fixture.auditRows({ tool: "slow" });
    expect(rows.map((row) => row.outcome)).toEqual(["ok"]);
  });
});
