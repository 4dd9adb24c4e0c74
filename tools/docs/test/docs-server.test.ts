import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectSignedClient,
  startTestToolServer,
  type TestToolServer,
} from "../../kit/src/testing.ts";
import { docsTools } from "../src/generate-document.ts";
import { sampleInput } from "./sample-document.ts";

let server: TestToolServer;
beforeAll(async () => {
  server = await startTestToolServer(docsTools, { name: "docs" });
});
afterAll(async () => {
  await server.close();
});

describe("docs over MCP", () => {
  it("advertises generate_document with optional task support and returns an embedded resource", async () => {
    const client = await connectSignedClient(server.mcpUrl, server.signing);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(["generate_document"]);
      expect(tools[0]!.execution).toEqual({ taskSupport: "optional" });
      expect(tools[0]!.annotations).toEqual({
        readOnlyHint: true,
        idempotentHint: true,
        openWorldHint: false,
      });

      const result = await client.callTool({
        name: "generate_document",
        arguments: { ...sampleInput("docx") },
      });
      expect(result.isError).toBeFalsy();
      const structured = result.structuredContent as {
        sha256: string;
        sizeBytes: number;
        uri: string;
      };
      const content = result.content as (
        | { type: "text"; text: string }
        | { type: "resource"; resource: { uri: string; mimeType: string; blob: string } }
      )[];
      expect(content[0]).toEqual({ type: "text", text: JSON.stringify(structured) });
      const resource = content[1];
      if (resource?.type !== "resource") throw new Error("expected an embedded resource");
      expect(resource.resource.mimeType).toBe(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      );
      expect(resource.resource.uri).toBe(structured.uri);
      const bytes = Buffer.from(resource.resource.blob, "base64");
      expect(bytes.byteLength).toBe(structured.sizeBytes);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(structured.sha256);
    } finally {
      await client.close();
    }
  });
});
