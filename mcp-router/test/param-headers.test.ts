import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADER } from "../../contract/src/headers.ts";
import { META_KEY } from "../../contract/src/mcp-wire.ts";
import {
  ALICE,
  openSession,
  postMcp,
  readMessages,
  sessionHeaders,
  startRouterFixture,
  testConfig,
  type RouterFixture,
} from "./router-harness.ts";

const MODERN = "2026-07-28";
const DEPLOYER = { ...ALICE, subject: "deployer", tools: [...(ALICE.tools ?? []), "deploy"] };
let fixture: RouterFixture;
let endpoint: string;

beforeAll(async () => {
  fixture = await startRouterFixture({
    config: (url) => testConfig(url, { extraTools: ["deploy"] }),
  });
  endpoint = `${fixture.router.url}/calc/mcp`;
});
afterAll(async () => {
  await fixture.close();
});

function deployCall(id: number, args: Record<string, unknown>) {
  return {
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: {
      name: "deploy",
      arguments: args,
      _meta: {
        [META_KEY.protocolVersion]: MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      },
    },
  };
}

async function send(id: number, args: Record<string, unknown>, params: Record<string, string>) {
  const response = await postMcp(endpoint, deployCall(id, args), {
    identity: DEPLOYER,
    headers: {
      [HEADER.mcpProtocolVersion]: MODERN,
      [HEADER.mcpMethod]: "tools/call",
      [HEADER.mcpName]: "deploy",
      ...Object.fromEntries(Object.entries(params).map(([k, v]) => [`Mcp-Param-${k}`, v])),
    },
  });
  const [message] = await readMessages(response);
  return { status: response.status, message: message! };
}

describe("Mcp-Param-* headers (2026-07-28, SEP-2243)", () => {
  it("calls the tool when the headers mirror the arguments, nested and base64 ones included", async () => {
    const called = await send(
      1,
      { region: "Zürich", replicas: 2, target: { canary: true } },
      {
        Region: `=?base64?${Buffer.from("Zürich").toString("base64")}?=`,
        Replicas: "2",
        Canary: "true",
      },
    );
    expect(called.status).toBe(200);
    expect(called.message.result).toMatchObject({
      content: [
        { text: JSON.stringify({ region: "Zürich", replicas: 2, target: { canary: true } }) },
      ],
    });
    // An argument left out needs no header.
    const partial = await send(2, { region: "eu" }, { region: "eu" });
    expect(partial.status).toBe(200);
  });

  it("refuses a mismatch before the tool runs: 400 / -32020, audited as a rejected call", async () => {
    const before = fixture.backend.seen.length;
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ region: "eu" }, { Region: "us" }, /Mcp-Param-Region header does not match/],
      [{ region: "eu" }, {}, /Mcp-Param-Region header is required/],
      [{ region: "Hello" }, { Region: "=?base64?SGVsbG8?=" }, /invalid base64/],
      [{ replicas: 2 }, { Replicas: "3" }, /arguments.replicas/],
      [{ target: { canary: false } }, { Canary: "true" }, /arguments.target.canary/],
      [{}, { Region: "eu" }, /sent but arguments.region is absent/],
    ];
    let id = 10;
    for (const [args, params, detail] of cases) {
      const refused = await send((id += 1), args, params);
      expect(refused.status).toBe(400);
      expect(refused.message).toMatchObject({
        id,
        error: { code: -32020, message: expect.stringMatching(detail) },
      });
    }
    expect(fixture.backend.seen.slice(before).filter((s) => s.method === "tools/call")).toEqual([]);
    const rows = await fixture.auditRows({ subject: "deployer", tool: "deploy" });
    const rejected = rows.filter((row) => row.outcome === "rejected");
    expect(rejected).toHaveLength(cases.length);
    expect(rejected.every((row) => row.reason === "header_mismatch" && row.status === 400)).toBe(
      true,
    );
  });

  it("checks nothing on a 2025-11-25 session, where the headers are not defined", async () => {
    const sessionId = await openSession(endpoint, DEPLOYER);
    const response = await postMcp(
      endpoint,
      {
        jsonrpc: "2.0",
        id: 30,
        method: "tools/call",
        params: { name: "deploy", arguments: { region: "eu" } },
      },
      {
        identity: DEPLOYER,
        headers: { ...sessionHeaders(sessionId), "Mcp-Param-Region": "us" },
      },
    );
    expect(response.status).toBe(200);
    const [message] = await readMessages(response);
    expect(message!.result).toMatchObject({ content: [{ text: '{"region":"eu"}' }] });
  });
});
