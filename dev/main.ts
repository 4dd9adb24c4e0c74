import { EnvError } from "../config/src/env.ts";
import { collectWhenIdle } from "../contract/src/idle-collect.ts";
import { ConfigError } from "../config/src/load-config.ts";
import { loadDotEnv } from "./dot-env.ts";
import { startEmbeddedStack, type EmbeddedStack } from "./embedded-stack.ts";
import { startBanner } from "./start-banner.ts";

/**
 * `npm start`: the whole gateway in one process on its embedded default. package.json builds, then
 * runs the build output with `exec node`, so the process npm starts is this one: a SIGTERM sent to
 * it (as a process manager or container runtime does) shuts the stack down with the audit flushed,
 * instead of stopping a wrapper and leaving the gateway orphaned.
 */
let stack: EmbeddedStack;
let dotEnv: ReturnType<typeof loadDotEnv>;
try {
  dotEnv = loadDotEnv();
  stack = await startEmbeddedStack({ reloadOnSighup: true });
} catch (error) {
  if (error instanceof EnvError || error instanceof ConfigError) {
    process.stderr.write(`gateway: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
const running = stack;
collectWhenIdle();
process.stdout.write(startBanner(running, dotEnv, process.env));

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
