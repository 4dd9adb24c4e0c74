export {
  createToolServer,
  DEFAULT_MAX_REQUEST_BYTES,
  ToolServerClosedError,
  type InProcessRequest,
  type ToolReply,
  type ToolServer,
  type ToolServerAuth,
  type ToolServerOptions,
} from "./tool-server.ts";
export {
  defineTool,
  toolError,
  toolOk,
  type DeclaredToolAnnotations,
  type TaskSupport,
  type ToolContext,
  type ToolDefinition,
  type ToolOutcome,
} from "./tool-definition.ts";
export {
  authFromEnv,
  parseToolServerEnv,
  parseWorkerPoolEnv,
  serveUntilSignal,
  toolServerEnvSchema,
  type ToolServerEnv,
  type WorkerPoolEnv,
} from "./tool-server-env.ts";
export {
  createToolWorkerPool,
  defaultWorkerPoolSettings,
  defaultWorkerThreads,
  type ThreadExit,
  type ToolWorkerPool,
  type WorkerPoolSettings,
  type WorkerPoolStats,
  type WorkerRun,
} from "./worker-pool.ts";
