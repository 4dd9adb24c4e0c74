export {
  createToolServer,
  DEFAULT_MAX_REQUEST_BYTES,
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
  serveUntilSignal,
  toolServerEnvSchema,
  type ToolServerEnv,
} from "./tool-server-env.ts";
