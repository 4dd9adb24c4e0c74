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

  it("answers prototype names and sub-zero temperatures with tool errors, not internal errors", async () => {
    const client = await connectSignedClient(server.mcpUrl, server.signing);
    try {
      for (const expression of ["constructor(1)", "__proto__(1)", "valueOf(1,2)"]) {
        const result = await client.callTool({
          name: "evaluate_expression",
          arguments: { expression },
        });
        expect(result).toMatchObject({
          isError: true,
          content: [
            {
              type: "text",
              text: expect.stringMatching(
                `^cannot parse expression: unknown function: ${expression.replace(/\(.*/, "")} `,
              ),
            },
          ],
        });
      }
      const cold = await client.callTool({
        name: "convert_units",
        arguments: { value: "-500", from: "degF", to: "degC" },
      });
      expect(cold).toMatchObject({
        isError: true,
        content: [
          {
            type: "text",
            text: "temperature below absolute zero: a value in degF must be at least -459.67 (0 K)",
          },
        ],
      });
    } finally {
      await client.close();
    }
  });
});
