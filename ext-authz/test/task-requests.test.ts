import { describe, expect, it } from "vitest";
import { decide, type CheckInput, type Decision } from "../src/policy/decide.ts";
import type { QuotaCharge, QuotaLimiter } from "../src/policy/quota.ts";
import { decisionDeps, makeToken } from "./fixture-config.ts";

/**
 * MCP tasks and REST job polling: a valid token and the endpoint's scope are required, and they
 * spend the per-user quota only; creating a task (a tools/call) spends tool quota like any call.
 */

function recordingLimiter(): QuotaLimiter & { kinds: QuotaCharge["kind"][] } {
  const kinds: QuotaCharge["kind"][] = [];
  return {
    kinds,
    consume: async (charge) => {
      kinds.push(charge.kind);
      return { ok: true };
    },
    refund: async () => undefined,
  };
}

async function run(
  input: { method?: string; path: string; body?: string; contextScope?: string },
  token: string | null,
  limiter: QuotaLimiter = recordingLimiter(),
): Promise<Decision> {
  const check: CheckInput = {
    method: input.method ?? "POST",
    path: input.path,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
    body: new TextEncoder().encode(input.body ?? ""),
    contextScope: input.contextScope,
  };
  return decide(check, decisionDeps({ limiter }));
}

const rpc = (method: string, params: Record<string, unknown>) =>
  JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });

const outcome = (decision: Decision) =>
  decision.outcome === "deny" ? decision.reason : decision.outcome;

describe("tasks/* and job polling in the decision", () => {
  it.each(["tasks/get", "tasks/result", "tasks/list", "tasks/cancel", "tasks/update"])(
    "%s spends the per-user quota only",
    async (method) => {
      const limiter = recordingLimiter();
      const decision = await run(
        { path: "/docs/mcp", body: rpc(method, { taskId: "t1", inputResponses: {} }) },
        await makeToken(),
        limiter,
      );
      expect(outcome(decision)).toBe("allow");
      expect(limiter.kinds).toEqual(["user"]);
    },
  );

  it.each([
    ["GET", undefined],
    ["DELETE", undefined],
    ["GET", "docs"],
  ])("%s /mcp/jobs/{id} (route scope %s) spends the per-user quota only", async (method, scope) => {
    const limiter = recordingLimiter();
    const decision = await run(
      {
        method,
        path: "/mcp/jobs/AbC_123-x",
        ...(scope === undefined ? {} : { contextScope: scope }),
      },
      await makeToken(),
      limiter,
    );
    expect(outcome(decision)).toBe("allow");
    expect(limiter.kinds).toEqual(["user"]);
  });

  it("charges tool quota for a task-augmented tools/call and an async invoke", async () => {
    const mcp = recordingLimiter();
    await run(
      {
        path: "/docs/mcp",
        body: rpc("tools/call", { name: "generate_document", arguments: {}, task: { ttl: 1000 } }),
      },
      await makeToken(),
      mcp,
    );
    expect(mcp.kinds).toEqual(["user_tool", "user", "tool"]);
    const rest = recordingLimiter();
    await run(
      {
        path: "/mcp/invoke",
        body: JSON.stringify({ tool_name: "docs.generate_document", async: true }),
      },
      await makeToken(),
      rest,
    );
    expect(rest.kinds).toEqual(["user_tool", "user", "tool"]);
  });

  it("needs a valid token and access to the scope", async () => {
    const body = rpc("tasks/get", { taskId: "t1" });
    expect(outcome(await run({ path: "/docs/mcp", body }, null))).toBe("token_missing");
    expect(outcome(await run({ path: "/docs/mcp", body }, "not-a-jwt"))).toMatch(/^token_/);
    expect(
      outcome(await run({ path: "/docs/mcp", body }, await makeToken({ roles: ["auditor"] }))),
    ).toBe("insufficient_scope");
    expect(outcome(await run({ method: "GET", path: "/mcp/jobs/abc" }, null))).toBe(
      "token_missing",
    );
    expect(
      outcome(
        await run(
          { method: "GET", path: "/mcp/jobs/abc", contextScope: "docs" },
          await makeToken({ roles: ["auditor"] }),
        ),
      ),
    ).toBe("insufficient_scope");
  });
});
