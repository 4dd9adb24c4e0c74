import { threadId } from "node:worker_threads";
import { z } from "zod";
import { defineTool, toolError, toolOk } from "../src/tool-definition.ts";

/** Tools for the worker-pool tests; they run on a worker thread through the kit's pool. */

const ANNOTATIONS = { readOnlyHint: true, idempotentHint: true, openWorldHint: false } as const;

export const spinTool = defineTool({
  name: "spin",
  description: "Keeps its thread busy for `ms` milliseconds (-1: forever), then says which thread",
  inputSchema: z.object({ ms: z.number().int().min(-1) }),
  outputSchema: z.object({ threadId: z.number().int(), spunMs: z.number() }),
  annotations: ANNOTATIONS,
  worker: { module: import.meta.url, exportName: "spinTool" },
  handler: ({ ms }) => {
    const started = performance.now();
    // A synchronous loop on purpose: nothing but terminating the thread can stop it.
    while (ms === -1 || performance.now() - started < ms) {
      /* busy */
    }
    return toolOk({ threadId, spunMs: Math.round(performance.now() - started) });
  },
});

export const threadTool = defineTool({
  name: "which_thread",
  description: "Says which thread ran it, or refuses, or throws",
  inputSchema: z.object({ mode: z.enum(["ok", "refuse", "throw"]).default("ok") }),
  outputSchema: z.object({ threadId: z.number().int() }),
  annotations: ANNOTATIONS,
  worker: { module: import.meta.url, exportName: "threadTool" },
  handler: ({ mode }) => {
    if (mode === "refuse") return toolError("refused on purpose");
    if (mode === "throw") throw new Error("internal detail that must stay in the log");
    return toolOk({ threadId });
  },
});

export const misnamedTool = defineTool({
  name: "misnamed",
  description: "Points its worker at an export that is not itself",
  inputSchema: z.object({}),
  outputSchema: z.object({}),
  annotations: ANNOTATIONS,
  worker: { module: import.meta.url, exportName: "threadTool" },
  handler: () => toolOk({}),
});
