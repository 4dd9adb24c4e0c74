import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callToolSigned, startTestToolServer, type TestToolServer } from "../../kit/src/testing.ts";
import { parseWorkerPoolEnv } from "../../kit/src/tool-server-env.ts";
import { DOCS_WORKER_POOL, docsTools, generateDocument } from "../src/generate-document.ts";
import { sampleInput } from "./sample-document.ts";

const BUDGET_MS = 300;

/** Within every content bound, and seconds of PDF layout on any machine: a 40-column table. */
function wideTable(): string {
  const row = (cell: string) => `|${Array.from({ length: 40 }, () => cell).join("|")}|`;
  const lines = [row("h"), row("-")];
  while (lines.length * 82 < 190_000) lines.push(row("b"));
  return lines.join("\n");
}

function textOf(result: { content: unknown }): string {
  const [first] = result.content as { type: string; text?: string }[];
  return first?.type === "text" ? (first.text ?? "") : "";
}

describe("generate_document on the docs worker pool", () => {
  let server: TestToolServer;
  let tight: TestToolServer;
  beforeAll(async () => {
    server = await startTestToolServer(docsTools, {
      name: "docs",
      workers: { threads: 1, budgetMs: 30_000, maxQueue: 4 },
    });
    tight = await startTestToolServer(docsTools, {
      name: "docs",
      workers: { threads: 1, budgetMs: BUDGET_MS, maxQueue: 4 },
    });
  });
  afterAll(async () => {
    await server.close();
    await tight.close();
  });

  it.each(["pdf", "docx", "html"] as const)(
    "renders %s on a worker thread, byte for byte as in-process",
    async (format) => {
      const local = await generateDocument(sampleInput(format));
      if (!local.ok) throw new Error(local.error);
      const before = server.server.workers!.stats().completed;
      const served = await callToolSigned(server.mcpUrl, server.signing, "generate_document", {
        ...sampleInput(format),
      });
      expect(served.isError).toBeUndefined();
      expect(served.structuredContent).toEqual(local.output);
      expect(server.server.workers!.stats().completed).toBe(before + 1);
    },
  );

  it("stops a document over its time budget and answers the budget error", async () => {
    const pool = tight.server.workers!;
    const before = pool.stats();
    const result = await callToolSigned(tight.mcpUrl, tight.signing, "generate_document", {
      format: "pdf",
      title: "wide",
      content: wideTable(),
    });
    expect(result).toMatchObject({ isError: true });
    expect(textOf(result)).toBe(
      `Tool generate_document exceeded its time budget of ${BUDGET_MS} ms and was stopped; shorten or simplify the input`,
    );
    expect(pool.stats()).toMatchObject({
      overBudget: before.overBudget + 1,
      terminated: before.terminated + 1,
      running: 0,
    });
    // A content bound is still answered at once, by a replacement thread.
    const refused = await callToolSigned(tight.mcpUrl, tight.signing, "generate_document", {
      format: "html",
      title: "t",
      content: "\t".repeat(50) + "- deep",
    });
    expect(textOf(refused)).toBe("content nests lists or quotes deeper than 20 levels");
  });

  it("has defaults for a 2-core machine and reads DOCS_WORKER_*", () => {
    expect(parseWorkerPoolEnv({}, DOCS_WORKER_POOL)).toMatchObject({
      ok: true,
      settings: { budgetMs: 30_000, maxQueue: 64 },
    });
    expect(
      parseWorkerPoolEnv(
        {
          DOCS_WORKER_THREADS: "2",
          DOCS_WORKER_BUDGET_MS: "5000",
          DOCS_WORKER_MAX_QUEUE: "8",
          DOCS_WORKER_IDLE_TIMEOUT_MS: "60000",
        },
        DOCS_WORKER_POOL,
      ),
    ).toEqual({
      ok: true,
      settings: { threads: 2, budgetMs: 5000, maxQueue: 8, idleTimeoutMs: 60_000 },
    });
  });
});
