import { EnvError } from "../config/src/env.ts";
import { ConfigError } from "../config/src/load-config.ts";
import { startEmbeddedStack } from "./embedded-stack.ts";

/** `npm start`: the whole gateway in one process on its embedded default. */
let stack;
try {
  stack = await startEmbeddedStack();
} catch (error) {
  if (error instanceof EnvError || error instanceof ConfigError) {
    process.stderr.write(`gateway: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
const running = stack;

const scopes = Object.keys(running.config.tools.scopes);
process.stdout.write(
  [
    "",
    `MCP Gateway (embedded) listening on ${running.url}`,
    ...scopes.map((scope) => `  ${running.url}/${scope}/sse   (alias ${running.url}/${scope}/mcp)`),
    `  ${running.url}/mcp/invoke   REST invoke · ${running.url}/docs   API reference`,
    `  ext-authz gRPC on ${running.extAuthzAddress} · database: ${running.database.dialect}`,
    "",
    "Mint a development token:",
    "  TOKEN=$(npm run -s token -- --user demo --roles developer)",
    "",
  ].join("\n") + "\n",
);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) process.exit(1);
  stopping = true;
  process.stderr.write(`gateway: ${signal} received, shutting down (audit flushed first)\n`);
  running.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
