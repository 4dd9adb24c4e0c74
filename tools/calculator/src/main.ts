import { createLogger } from "../../../contract/src/log.ts";
import { createToolServer } from "../../kit/src/tool-server.ts";
import {
  authFromEnv,
  parseToolServerEnv,
  serveUntilSignal,
} from "../../kit/src/tool-server-env.ts";
import { calculatorTools } from "./calculator-tools.ts";

const CALCULATOR_SERVER_NAME = "calculator";
const CALCULATOR_DEFAULT_PORT = 8091;

const parsed = parseToolServerEnv(process.env, CALCULATOR_DEFAULT_PORT);
if (!parsed.ok) {
  process.stderr.write(`calculator: invalid environment: ${parsed.message}\n`);
  process.exit(1);
}
const env = parsed.env;
const logger = createLogger({ name: CALCULATOR_SERVER_NAME, level: env.LOG_LEVEL });
const server = createToolServer({
  name: CALCULATOR_SERVER_NAME,
  version: "1.0.0",
  tools: calculatorTools,
  auth: authFromEnv(env),
  maxRequestBytes: env.MAX_REQUEST_BYTES,
  logger,
});
await serveUntilSignal(server, { port: env.PORT, host: env.HOST, logger });
