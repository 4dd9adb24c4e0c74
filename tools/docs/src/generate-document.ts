import { createHash } from "node:crypto";
import { isMainThread } from "node:worker_threads";
import type { ContentBlock } from "@modelcontextprotocol/sdk/types.js";
import {
  defineTool,
  toolError,
  toolOk,
  type ToolDefinition,
} from "../../kit/src/tool-definition.ts";
import type { WorkerPoolEnv } from "../../kit/src/tool-server-env.ts";
import {
  GenerateDocumentInputSchema,
  GenerateDocumentOutputSchema,
  MIME_TYPES,
  fileNameFor,
  type GenerateDocumentInput,
  type GenerateDocumentOutput,
} from "./document-request.ts";

// Worker threads exist to render: they load the renderers while starting, as before any call and
// its time budget; the main thread loads them only if it ever renders itself.
if (!isMainThread) {
  await Promise.all([
    import("./markdown-model.ts"),
    import("./render-html.ts"),
    import("./render-docx.ts"),
    import("./render-pdf.ts"),
  ]);
}

export type GeneratedDocument =
  { ok: true; bytes: Uint8Array; output: GenerateDocumentOutput } | { ok: false; error: string };

/** Pure function of the input: same request, same bytes (no clock, no randomness, no time zone). */
export async function generateDocument(
  input: GenerateDocumentInput,
  signal?: AbortSignal,
): Promise<GeneratedDocument> {
  // Loaded on the first document, not with the server: served calls render on the worker pool, so
  // the main thread (and the embedded stack holding it) never keeps marked, pdfkit and its fonts.
  const { parseMarkdown } = await import("./markdown-model.ts");
  const parsed = parseMarkdown(input.content);
  if (!parsed.ok) return parsed;
  if (signal?.aborted === true) return { ok: false, error: "document generation was cancelled" };
  const metadata = input.metadata ?? {};
  let bytes: Uint8Array;
  let pageCount: number | undefined;
  switch (input.format) {
    case "html": {
      const { renderHtml } = await import("./render-html.ts");
      bytes = renderHtml(input.title, parsed.blocks, metadata);
      break;
    }
    case "docx": {
      const { renderDocx } = await import("./render-docx.ts");
      bytes = renderDocx(input.title, parsed.blocks, metadata);
      break;
    }
    case "pdf": {
      const { renderPdf } = await import("./render-pdf.ts");
      const pdf = await renderPdf(input.title, parsed.blocks, metadata, signal);
      if (!pdf.ok) return pdf;
      bytes = pdf.bytes;
      pageCount = pdf.pageCount;
      break;
    }
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const fileName = fileNameFor(input.title, input.format);
  const output: GenerateDocumentOutput = {
    format: input.format,
    mimeType: MIME_TYPES[input.format],
    fileName,
    uri: `docs://generated/${sha256}/${fileName}`,
    sha256,
    sizeBytes: bytes.byteLength,
  };
  if (pageCount !== undefined) output.pageCount = pageCount;
  return { ok: true, bytes, output };
}

export const generateDocumentTool: ToolDefinition = defineTool({
  name: "generate_document",
  title: "Generate a document",
  description:
    "Renders Markdown (headings, paragraphs, emphasis, lists, code blocks, tables, links) into a PDF, DOCX or HTML document. Returns the file as an embedded resource (base64 blob with its MIME type) plus its SHA-256 and size. Output is byte-identical for identical input. Raw HTML in the content is shown as text; only http(s), mailto and #anchor links are kept; images are replaced by their alt text.",
  inputSchema: GenerateDocumentInputSchema,
  outputSchema: GenerateDocumentOutputSchema,
  annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
  execution: { taskSupport: "optional" },
  // Rendering a large PDF takes seconds of CPU: served calls run on the docs worker pool.
  worker: { module: import.meta.url, exportName: "generateDocumentTool" },
  handler: async (input, context) => {
    const generated = await generateDocument(input, context.signal);
    if (!generated.ok) return toolError(generated.error);
    const resource: ContentBlock = {
      type: "resource",
      resource: {
        uri: generated.output.uri,
        mimeType: generated.output.mimeType,
        blob: Buffer.from(generated.bytes).toString("base64"),
      },
    };
    return toolOk(generated.output, [resource]);
  },
});

export const docsTools: ToolDefinition[] = [generateDocumentTool];

/**
 * DOCS_WORKER_THREADS, DOCS_WORKER_BUDGET_MS, DOCS_WORKER_MAX_QUEUE. The largest documents allowed
 * (200 000 characters, 200 PDF pages) take a few seconds on one core; 30 s leaves a wide margin for
 * slower machines and stays below the router's generate_document deadline, so the client gets the
 * budget error rather than a timeout.
 */
export const DOCS_WORKER_POOL: WorkerPoolEnv = { prefix: "DOCS", defaultBudgetMs: 30_000 };
