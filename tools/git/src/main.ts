import { createLogger } from "../../../contract/src/log.ts";
import { authFromEnv, serveUntilSignal } from "../../kit/src/index.ts";
import { parseGitToolEnv } from "./git-env.ts";
import { buildGitToolServer } from "./server.ts";
import { DEFAULT_LIMITS } from "./tool-context.ts";

async function main(): Promise<void> {
  const parsed = parseGitToolEnv(process.env);
  if (!parsed.ok) {
    process.stderr.write(`git tool server: invalid environment: ${parsed.message}\n`);
    process.exit(1);
  }
  const env = parsed.env;
  const logger = createLogger({ name: "tool-git", level: env.LOG_LEVEL });
  const built = await buildGitToolServer({
    repositories: env.GIT_REPOSITORIES,
    cwd: process.cwd(),
    timeoutMs: env.GIT_TIMEOUT_MS,
    limits: {
      ...DEFAULT_LIMITS,
      maxOutputBytes: env.GIT_MAX_OUTPUT_BYTES,
      maxFileBytes: env.GIT_MAX_FILE_BYTES,
    },
    auth: authFromEnv(env),
    maxRequestBytes: env.MAX_REQUEST_BYTES,
    logger,
  });
  if (!built.ok) {
    logger.fatal({ error: built.error }, "git tool server: invalid repository configuration");
    process.exit(1);
  }
  // The runner's private HOME is a temp directory; remove it however the process ends.
  const service = built.value;
  process.on("exit", () => service.close());
  const names = built.value.repositories.list().map((repo) => repo.name);
  if (names.length === 0) logger.warn("no repository configured or found; serving none");
  logger.info({ repositories: names }, "git repositories opened");
  await serveUntilSignal(built.value.server, {
    port: env.PORT,
    host: env.HOST,
    logger,
    serviceName: "git",
  });
}

await main();
