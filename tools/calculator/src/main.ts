import { createLogger } from "../../../contract/src/log.ts";
import { createToolServer } from "../../kit/src/tool-server.ts";
import {
  authFromEnv,
  parseToolServerEnv,
  parseWorkerPoolEnv,
  serveUntilSignal,
} from "../../kit/src/tool-server-env.ts";
import { CALCULATOR_WORKER_POOL, calculatorTools } from "./calculator-tools.ts";

const CALCULATOR_SERVER_NAME = "calculator";
const CALCULATOR_DEFAULT_PORT = 8091;

const parsed = parseToolServerEnv(process.env, CALCULATOR_DEFAULT_PORT);
if (!parsed.ok) {
  process.stderr.write(`calculator: invalid environment: ${parsed.message}\n`);
  process.exit(1);
}
const env = parsed.env;
const workers = parseWorkerPoolEnv(process.env, CALCULATOR_WORKER_POOL);
if (!workers.ok) {
  process.stderr.write(`calculator: invalid environment: ${workers.problems.join("; ")}\n`);
  process.exit(1);
}
const logger = createLogger({ name: CALCULATOR_SERVER_NAME, level: env.LOG_LEVEL });
const server = createToolServer({
  name: CALCULATOR_SERVER_NAME,
  version: "1.0.0",
  tools: calculatorTools,
  auth: authFromEnv(env),
  maxRequestBytes: env.MAX_REQUEST_BYTES,
  workers: workers.settings,
  logger,
});
logger.info({ workers: workers.settings }, "worker pool configured");
await serveUntilSignal(server, {
  port: env.PORT,
  host: env.HOST,
  logger,
  serviceName: "calculator",
});
