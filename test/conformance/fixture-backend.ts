/**
 * The conformance fixture (test/conformance-fixture) as a standard MCP server behind the gateway:
 * its tool names (asked of the fixture itself, so the list never drifts), the `conformance` scope
 * of tools.yaml that points at it (`mcp_server`, over Streamable HTTP or stdio), and the test
 * configuration directory: the shipped config/ plus that scope and `developer` allowed
 * `conformance.*`. See docs/conformance.md.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { parse, stringify } from "yaml";
import {
  FIXTURE_INPUT_BEFORE_TASK,
  FIXTURE_TASK_SUPPORT,
  startConformanceFixture,
  type ConformanceFixture,
} from "../conformance-fixture/server.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
const FIXTURE_SERVER = join(REPO, "test", "conformance-fixture", "server.ts");

/** The scope the fixture is served under: /conformance/mcp. */
export const FIXTURE_SCOPE = "conformance";
export type FixtureTransport = "streamable-http" | "stdio";

export type FixtureTool = {
  name: string;
  task_support?: "optional" | "required";
  input_before_task?: true;
};

/**
 * The fixture's tools as its own `tools/list` gives them (a 2025-11-25 session, as the router
 * opens one), with the task support the fixture implements for each.
 */
export async function listFixtureTools(url: string): Promise<FixtureTool[]> {
  const client = new Client({ name: "conformance-harness", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    const names: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor === undefined ? {} : { cursor });
      names.push(...page.tools.map((tool) => tool.name));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const taskSupport: Readonly<Record<string, "optional" | "required">> = FIXTURE_TASK_SUPPORT;
    return names.map((name) => {
      const mode = taskSupport[name];
      return {
        name,
        ...(mode === undefined ? {} : { task_support: mode }),
        ...(FIXTURE_INPUT_BEFORE_TASK.includes(name) ? { input_before_task: true as const } : {}),
      };
    });
  } finally {
    await client.close();
  }
}

export type FixtureScopeOptions = {
  transport: FixtureTransport;
  tools: readonly FixtureTool[];
  /** Streamable HTTP: the fixture's MCP endpoint. */
  url?: string;
  /** Streamable HTTP: the revision the router speaks to it (default: the router's default). */
  protocolVersion?: string;
};

/** The tools.yaml scope that puts the fixture behind the gateway. */
export function fixtureScope(options: FixtureScopeOptions): Record<string, unknown> {
  const mcpServer =
    options.transport === "streamable-http"
      ? {
          transport: "streamable-http",
          url: required(options.url, "url"),
          // Sent on every upstream request: shows in the fixture's traffic that the gateway's
          // configured headers arrive (the fixture ignores it).
          headers: { "X-Conformance-Harness": "mcp-gateway" },
          ...(options.protocolVersion === undefined
            ? {}
            : { protocol_version: options.protocolVersion }),
        }
      : {
          transport: "stdio",
          // The project's Node with tsx's loader: one process per server (no tsx CLI wrapper).
          command: process.execPath,
          args: ["--import", "tsx", FIXTURE_SERVER, "--stdio"],
          cwd: REPO,
          env: { NODE_ENV: "test" },
          // A process per user (the harness gives each scenario run a user of its own), few at a
          // time: idle ones give way, and none outlives the run by much.
          processes: { per: "user", max: 6, idle_timeout_ms: 60_000 },
        };
  return {
    description: "The MCP conformance fixture (test/conformance-fixture), for the conformance run",
    mcp_server: mcpServer,
    // slow_compute sleeps up to 30 s inline; the suite's scenarios are bounded at 60 s.
    timeout_ms: 45_000,
    max_response_bytes: 1_048_576,
    tools: options.tools.map((tool) => ({ ...tool })),
  };
}

function required(value: string | undefined, name: string): string {
  if (value === undefined) throw new Error(`fixture scope: ${name} is required`);
  return value;
}

/**
 * Writes tools.yaml and policy.yaml into `dir`: the shipped ones from `sourceDir`, plus the
 * fixture's scope and `conformance.*` for the `developer` role.
 */
export async function writeFixtureConfig(
  dir: string,
  scope: Record<string, unknown>,
  sourceDir = join(REPO, "config"),
): Promise<void> {
  const tools = parse(await readFile(join(sourceDir, "tools.yaml"), "utf8")) as {
    scopes: Record<string, unknown>;
  };
  if (FIXTURE_SCOPE in tools.scopes) {
    throw new Error(`the shipped tools.yaml already has a scope "${FIXTURE_SCOPE}"`);
  }
  tools.scopes[FIXTURE_SCOPE] = scope;
  const policy = parse(await readFile(join(sourceDir, "policy.yaml"), "utf8")) as {
    roles: Record<string, { allow?: unknown[] }>;
  };
  const developer = policy.roles.developer;
  if (developer === undefined) throw new Error("the shipped policy.yaml has no developer role");
  developer.allow = [...(developer.allow ?? []), `${FIXTURE_SCOPE}.*`];
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "tools.yaml"), stringify(tools));
  await writeFile(join(dir, "policy.yaml"), stringify(policy));
}

export type FixtureBackend = {
  scope: string;
  transport: FixtureTransport;
  tools: FixtureTool[];
  /** Streamable HTTP: the fixture's endpoint. */
  url: string | undefined;
  /** Streamable HTTP: the URL the gateway is configured to call (the fixture's, or `route`'s). */
  configuredUrl: string | undefined;
  close(): Promise<void>;
};

/**
 * Starts the fixture for the run and writes the configuration into `configDir`. Streamable HTTP:
 * the fixture runs in this process on 127.0.0.1, port chosen by the OS. stdio: the router spawns
 * it (a process per user); a short-lived HTTP instance here only answers the tool list.
 */
export async function prepareFixtureBackend(
  transport: FixtureTransport,
  configDir: string,
  options: {
    /** Streamable HTTP: the URL the gateway should call for the fixture's (e.g. a recording hop). */
    route?: (fixtureUrl: string) => Promise<string>;
    /** Streamable HTTP: the revision the router speaks to the fixture. */
    protocolVersion?: string;
  } = {},
): Promise<FixtureBackend> {
  const fixture: ConformanceFixture = await startConformanceFixture({ port: 0 });
  try {
    const tools = await listFixtureTools(fixture.url);
    if (tools.length === 0) throw new Error("the conformance fixture lists no tools");
    const url = transport === "streamable-http" ? fixture.url : undefined;
    const configuredUrl =
      url === undefined ? undefined : options.route === undefined ? url : await options.route(url);
    await writeFixtureConfig(
      configDir,
      fixtureScope({
        transport,
        tools,
        ...(configuredUrl === undefined ? {} : { url: configuredUrl }),
        ...(options.protocolVersion === undefined
          ? {}
          : { protocolVersion: options.protocolVersion }),
      }),
    );
    if (transport === "stdio") await fixture.close();
    return {
      scope: FIXTURE_SCOPE,
      transport,
      tools,
      url,
      configuredUrl,
      close: () => (transport === "stdio" ? Promise.resolve() : fixture.close()),
    };
  } catch (error) {
    await fixture.close();
    throw error;
  }
}
