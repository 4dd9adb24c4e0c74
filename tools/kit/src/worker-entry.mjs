// The code a tool worker thread starts with. It is plain JavaScript because a worker thread does
// not inherit a TypeScript loader it can rely on. The build output (npm start, Docker) is loaded
// with plain import(); sources (vitest, tsx) through tsx's scoped loader, which never registers
// tsx a second time process-wide and is imported only then: production installs have no tsx.
import { existsSync } from "node:fs";
import { parentPort, threadId, workerData } from "node:worker_threads";

// Must equal TASK_STARTED in worker-pool.ts.
const TASK_STARTED = "tool-worker:task-started";

const modules = new Map();
function load(url) {
  let loading = modules.get(url);
  if (loading === undefined) {
    loading = url.endsWith(".ts")
      ? import("tsx/esm/api").then(({ tsImport }) => tsImport(url, import.meta.url))
      : import(url);
    modules.set(url, loading);
  }
  return loading;
}

async function initialize() {
  const compiled = new URL("../../../contract/src/log.js", import.meta.url);
  const { createLogger } = await load(
    (existsSync(compiled) ? compiled : new URL("../../../contract/src/log.ts", import.meta.url))
      .href,
  );
  const preload = Array.isArray(workerData?.preload) ? workerData.preload : [];
  await Promise.all(preload.map(load));
  const name = typeof workerData?.name === "string" ? workerData.name : "tool-worker";
  // One logger (one stdout stream) per service and level for the thread's life, not one per call.
  const loggers = new Map();
  const loggerFor = (service, level) => {
    const key = `${service}\u0000${level}`;
    let logger = loggers.get(key);
    if (logger === undefined) {
      logger = createLogger({ name: service, level });
      loggers.set(key, logger);
    }
    return logger;
  };

  return async function runToolTask(task) {
    const exported = (await load(task.module))[task.exportName];
    if (
      exported === null ||
      typeof exported !== "object" ||
      exported.name !== task.tool ||
      typeof exported.handler !== "function"
    ) {
      throw new Error(`${task.module} does not export tool ${task.tool} as ${task.exportName}`);
    }
    // The budget starts now, after loading: a fresh thread's module load is not the call's cost.
    parentPort?.postMessage({ type: TASK_STARTED, id: task.id, threadId });
    const { service, ...bindings } = task.log.bindings;
    const logger = loggerFor(typeof service === "string" ? service : name, task.log.level).child(
      bindings,
    );
    return exported.handler(task.input, {
      userId: task.userId,
      requestId: task.requestId,
      logger,
      // Never aborted: a cancelled or over-budget call ends with this thread being terminated.
      signal: new AbortController().signal,
    });
  };
}

export default initialize();
