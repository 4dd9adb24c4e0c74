import type { Logger } from "pino";
import { createToolServer, type ToolServer, type ToolServerAuth } from "../../kit/src/index.ts";
import { createGitRunner, type GitRunner } from "./git-runner.ts";
import {
  findRepositoryRoot,
  openRepositories,
  parseRepositoryAllowlist,
  type RepositoryAllowlist,
  type RepositoryRegistry,
  type ParseOutcome,
} from "./repositories.ts";
import { DEFAULT_LIMITS, type GitToolLimits } from "./tool-context.ts";
import { createGitToolDefinitions } from "./tool-definitions.ts";

export const GIT_TOOL_SERVER_NAME = "git";
export const GIT_TOOL_SERVER_VERSION = "0.1.0";
/** Name under which the server's own repository is served when no allowlist is configured. */
export const DEFAULT_REPOSITORY_NAME = "gateway";

/**
 * The allowlist from GIT_REPOSITORIES, or, when unset, the repository the process runs in under
 * the name "gateway" (so the embedded stack works out of the box). An empty allowlist is not an
 * error: the server then lists no repositories.
 */
export function resolveAllowlist(
  configured: string | undefined,
  cwd: string,
): ParseOutcome<RepositoryAllowlist | Record<string, never>> {
  if (configured !== undefined && configured.trim() !== "") {
    return parseRepositoryAllowlist(configured);
  }
  const root = findRepositoryRoot(cwd);
  return { ok: true, value: root === undefined ? {} : { [DEFAULT_REPOSITORY_NAME]: root } };
}

export type GitToolServerOptions = {
  repositories: RepositoryRegistry;
  runner: GitRunner;
  limits?: GitToolLimits;
  auth: ToolServerAuth;
  maxRequestBytes?: number;
  logger: Logger;
};

export function createGitToolServer(options: GitToolServerOptions): ToolServer {
  return createToolServer({
    name: GIT_TOOL_SERVER_NAME,
    version: GIT_TOOL_SERVER_VERSION,
    tools: createGitToolDefinitions({
      runner: options.runner,
      repositories: options.repositories,
      limits: options.limits ?? DEFAULT_LIMITS,
    }),
    auth: options.auth,
    maxRequestBytes: options.maxRequestBytes,
    logger: options.logger,
  });
}

export type GitServiceSettings = {
  /** GIT_REPOSITORIES as given (undefined: serve the enclosing repository). */
  repositories: string | undefined;
  cwd: string;
  timeoutMs: number;
  limits: GitToolLimits;
  auth: ToolServerAuth;
  maxRequestBytes?: number;
  logger: Logger;
};

/** Everything main.ts (or the embedded stack) needs: allowlist → opened repositories → server. */
export async function buildGitToolServer(
  settings: GitServiceSettings,
): Promise<ParseOutcome<{ server: ToolServer; repositories: RepositoryRegistry; close(): void }>> {
  const allowlist = resolveAllowlist(settings.repositories, settings.cwd);
  if (!allowlist.ok) return allowlist;
  const runner = createGitRunner({
    timeoutMs: settings.timeoutMs,
    maxOutputBytes: settings.limits.maxOutputBytes,
  });
  const opened = await openRepositories(allowlist.value, runner, settings.cwd);
  if (!opened.ok) {
    runner.close();
    return opened;
  }
  const server = createGitToolServer({
    repositories: opened.value,
    runner,
    limits: settings.limits,
    auth: settings.auth,
    maxRequestBytes: settings.maxRequestBytes,
    logger: settings.logger,
  });
  return { ok: true, value: { server, repositories: opened.value, close: () => runner.close() } };
}
