import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { calculatorTools } from "../src/calculator-tools.ts";
import {
  connectSignedClient,
  startTestToolServer,
  type TestToolServer,
} from "../../kit/src/testing.ts";

let server: TestToolServer;
beforeAll(async () => {
  server = await startTestToolServer(calculatorTools, { name: "calculator" });
});
afterAll(async () => {
  await server.close();
});

describe("calculator over MCP", () => {
  it("lists exactly the calculator tools with read-only annotations", async () => {
    const client = await connectSignedClient(server.mcpUrl, server.signing);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(
        [
          "convert_units",
          "evaluate_expression",
          "exact_calculate",
          "list_units",
          "statistics",
        ].sort(),
      );
      for (const tool of tools) {
        expect(tool.annotations).toEqual({
          readOnlyHint: true,
          idempotentHint: true,
          openWorldHint: false,
        });
        expect(tool.outputSchema?.type).toBe("object");
      }
    } finally {
      await client.close();
    }
  });

  it("answers the issue's example with structured content and text", async () => {
    const client = await connectSignedClient(server.mcpUrl, server.signing);
    try {
      const result = await client.callTool({
        name: "exact_calculate",
        arguments: { operator: "add", operands: ["1.2", "2.3"], precision: 28 },
      });
      expect(result.isError).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ result: "3.5" });
      const text = (result.content as { type: string; text: string }[])[0]!.text;
      expect(JSON.parse(text)).toEqual(result.structuredContent);

      const failed = await client.callTool({
        name: "exact_calculate",
        arguments: { operator: "divide", operands: ["1", "0"] },
      });
      expect(failed).toMatchObject({
        isError: true,
        content: [{ type: "text", text: "division by zero" }],
      });
    } finally {
      await client.close();
    }
  });
});
