import { createLogger } from "../../../contract/src/log.ts";
import { createToolServer } from "../../kit/src/tool-server.ts";
import {
  authFromEnv,
  parseToolServerEnv,
  parseWorkerPoolEnv,
  serveUntilSignal,
} from "../../kit/src/tool-server-env.ts";
import { DOCS_WORKER_POOL, docsTools } from "./generate-document.ts";

const DOCS_SERVER_NAME = "docs";
const DOCS_DEFAULT_PORT = 8093;

const parsed = parseToolServerEnv(process.env, DOCS_DEFAULT_PORT);
if (!parsed.ok) {
  process.stderr.write(`docs: invalid environment: ${parsed.message}\n`);
  process.exit(1);
}
const env = parsed.env;
const workers = parseWorkerPoolEnv(process.env, DOCS_WORKER_POOL);
if (!workers.ok) {
  process.stderr.write(`docs: invalid environment: ${workers.problems.join("; ")}\n`);
  process.exit(1);
}
const logger = createLogger({ name: DOCS_SERVER_NAME, level: env.LOG_LEVEL });
const server = createToolServer({
  name: DOCS_SERVER_NAME,
  version: "1.0.0",
  tools: docsTools,
  auth: authFromEnv(env),
  maxRequestBytes: env.MAX_REQUEST_BYTES,
  workers: workers.settings,
  logger,
});
logger.info({ workers: workers.settings }, "worker pool configured");
await serveUntilSignal(server, { port: env.PORT, host: env.HOST, logger, serviceName: "docs" });
