/**
 * The conformance fixture backend: a standalone MCP server implementing every tool, prompt and
 * resource the server scenarios of the official MCP conformance suite call, so the suite can be
 * run through the gateway against it (see docs/conformance-fixture.md).
 *
 *   tsx test/conformance-fixture/server.ts [--port 0] [--host 127.0.0.1] [--allowed-host name]...
 *       Streamable HTTP on http://HOST:PORT/mcp (port 0: chosen by the OS). Prints one JSON line
 *       {"url": "http://127.0.0.1:PORT/mcp"} on stdout once listening; logs go to stderr.
 *   tsx test/conformance-fixture/server.ts --stdio
 *       The same server over stdio (both eras: a 2025 `initialize` or a 2026-07-28 request).
 *
 * In-process: `const fixture = await startConformanceFixture({ port: 0 })`, then
 * `fixture.url` and `await fixture.close()`.
 */
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import { createFixtureServer, createFixtureState } from "./fixture-server.ts";
import { startFixtureHttp } from "./http.ts";

export {
  FIXTURE_INPUT_BEFORE_TASK,
  FIXTURE_NAME,
  FIXTURE_TASK_SUPPORT,
  FIXTURE_VERSION,
} from "./fixture-server.ts";

export interface ConformanceFixtureOptions {
  /** TCP port; 0 (the default) lets the OS choose. */
  port?: number;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** Host names accepted in Host/Origin (default: localhost, 127.0.0.1, [::1] and `host`). */
  allowedHosts?: readonly string[];
}

export interface ConformanceFixture {
  /** The MCP endpoint, e.g. http://127.0.0.1:41234/mcp */
  url: string;
  close(): Promise<void>;
}

export async function startConformanceFixture(
  options: ConformanceFixtureOptions = {},
): Promise<ConformanceFixture> {
  const server = await startFixtureHttp({
    port: options.port ?? 0,
    host: options.host ?? "127.0.0.1",
    ...(options.allowedHosts === undefined ? {} : { allowedHosts: options.allowedHosts }),
  });
  return { url: server.url, close: () => server.close() };
}

/** Serves the fixture over this process's stdin/stdout until stdin closes. */
export async function serveConformanceFixtureStdio(): Promise<{ close(): Promise<void> }> {
  const state = await createFixtureState();
  const handle = serveStdio(({ era }) => createFixtureServer(state, era), {
    onerror: (error) => process.stderr.write(`conformance-fixture: ${error.message}\n`),
  });
  return {
    close: async () => {
      state.tasks.close();
      await handle.close();
    },
  };
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "allowed-host": { type: "string", multiple: true },
      stdio: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.stdio) {
    await serveConformanceFixtureStdio();
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be 0..65535: ${values.port}`);
  }
  const fixture = await startConformanceFixture({
    port,
    host: values.host,
    ...(values["allowed-host"] === undefined ? {} : { allowedHosts: values["allowed-host"] }),
  });
  process.stdout.write(`${JSON.stringify({ url: fixture.url })}\n`);
  const stop = (): void => {
    void fixture.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const invokedDirectly =
  process.argv[1] !== undefined &&
  realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(
      `conformance-fixture: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  });
}
