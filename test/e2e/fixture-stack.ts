import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { startEmbeddedStack, type EmbeddedStack } from "../../dev/embedded-stack.ts";
import {
  FIXTURE_SCOPE,
  prepareFixtureBackend,
  type FixtureBackend,
} from "../conformance/fixture-backend.ts";
import { embeddedTestEnv, quietLogger } from "./stack-fixture.ts";

/**
 * The embedded stack (in-memory PGlite) with the conformance fixture over Streamable HTTP as scope
 * `conformance`, its tools.yaml and policy.yaml adjusted by the test before the stack starts.
 */

type Yaml = Record<string, unknown>;

export type FixtureStack = {
  stack: EmbeddedStack;
  fixture: FixtureBackend;
  env: Record<string, string>;
  close(): Promise<void>;
};

export async function startFixtureStack(
  options: {
    /** Edits the fixture's scope of tools.yaml in place. */
    scope?: (scope: Yaml & { mcp_server: Yaml }) => void;
    /** Edits policy.yaml's roles in place. */
    roles?: (roles: Record<string, unknown>) => void;
  } = {},
): Promise<FixtureStack> {
  const configDir = await mkdtemp(join(tmpdir(), "mcp-gateway-fixture-"));
  let fixture: FixtureBackend | undefined;
  try {
    fixture = await prepareFixtureBackend("streamable-http", configDir);
    await edit(join(configDir, "tools.yaml"), (tools) => {
      options.scope?.(
        (tools.scopes as Record<string, Yaml & { mcp_server: Yaml }>)[FIXTURE_SCOPE]!,
      );
    });
    await edit(join(configDir, "policy.yaml"), (policy) => {
      options.roles?.(policy.roles as Record<string, unknown>);
    });
    const env = embeddedTestEnv(configDir);
    const stack = await startEmbeddedStack({ env, inMemoryDatabase: true, logger: quietLogger });
    const running = fixture;
    return {
      stack,
      fixture: running,
      env,
      async close() {
        await stack.close();
        await running.close();
        await rm(configDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await fixture?.close();
    await rm(configDir, { recursive: true, force: true });
    throw error;
  }
}

async function edit(file: string, change: (document: Yaml) => void): Promise<void> {
  const document = parse(await readFile(file, "utf8")) as Yaml;
  change(document);
  await writeFile(file, stringify(document));
}
