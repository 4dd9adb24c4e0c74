/**
 * The embedded stack reloads policy.yaml and tools.yaml once for ext-authz and the router
 * together, under load: every request is answered as the configuration of its moment says.
 */
import { copyFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextCheck, outcomeIs, replaceFile, scratchDir } from "../../config/test/reload-harness.ts";
import { startEmbeddedStack, type EmbeddedStack } from "../embedded-stack.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SHIPPED = path.join(ROOT, "config");
const JWT_KEY = "reload-test-jwt-key-0123456789-abcdefghijkl";
const ISSUER = "https://login.example.com";
const AUDIENCE = "mcp-gateway";

/** The test's own policy: the shipped one is free to change. */
const POLICY = `
version: 1
roles:
  developer:
    allow: ["calculator.*", "git.*", "docs.*"]
  analyst:
    allow: ["calculator.*", "docs.*"]
quotas:
  per_user: { default: { points: 100000, duration: 1m } }
  per_tool: { default: { points: 100000, duration: 1m } }
  per_user_tool: { default: { points: 100000, duration: 1m } }
protected_resource:
  resource_base_url: http://localhost:8000
  authorization_servers: ["${ISSUER}"]
`;

let stack: EmbeddedStack;
let scratch: Awaited<ReturnType<typeof scratchDir>>;

beforeAll(async () => {
  scratch = await scratchDir("embedded-reload-");
  await copyFile(path.join(SHIPPED, "tools.yaml"), path.join(scratch.dir, "tools.yaml"));
  await writeFile(path.join(scratch.dir, "policy.yaml"), POLICY);
  stack = await startEmbeddedStack({
    env: {
      NODE_ENV: "test",
      PORT: "0",
      EXT_AUTHZ_PORT: "0",
      CONFIG_DIR: scratch.dir,
      LOG_LEVEL: "silent",
      JWT_SECRET_KEY: JWT_KEY,
      JWT_ISSUER: ISSUER,
      JWT_AUDIENCE: AUDIENCE,
      // The git tool reads this repository; nothing here depends on its contents.
      GIT_REPOSITORIES: `gateway=${ROOT}`,
      // A busy test machine must not turn slow audit commits into 503s: only the reload is tested.
      AUDIT_WAIT_MS: "15000",
    },
    inMemoryDatabase: true,
    configDebounceMs: 50,
  });
}, 180_000);

afterAll(async () => {
  await stack?.close();
  await scratch?.remove();
});

function token(subject: string, roles: string[]): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime("10m")
    .sign(new TextEncoder().encode(JWT_KEY));
}

async function invoke(bearer: string, tool: string, args: unknown): Promise<number> {
  const response = await fetch(`${stack.url}/mcp/invoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify({ tool_name: tool, arguments: args }),
  });
  await response.arrayBuffer();
  return response.status;
}

const GIT_TOOL = "git.git_list_repositories";
const CALCULATION = { operator: "add", operands: ["1", "2"] };

async function reloadPolicy(text: string, outcome: "ok" | "invalid"): Promise<void> {
  const done = nextCheck(stack.configWatcher, outcomeIs(outcome), 30_000);
  await replaceFile(path.join(scratch.dir, "policy.yaml"), text);
  await done;
}

describe("embedded stack configuration reload", () => {
  it("applies one reload to ext-authz and the router, under load, failing no request", async () => {
    const analyst = await token("ana", ["analyst"]);
    const developer = await token("dev", ["developer"]);
    const granted = POLICY.replace(
      'allow: ["calculator.*", "docs.*"]',
      `allow: ["calculator.*", "docs.*", "${GIT_TOOL}"]`,
    );
    const invalid = POLICY.replace(
      'allow: ["calculator.*", "git.*", "docs.*"]',
      'allow: ["nowhere.*"]',
    );
    expect(new Set([POLICY, granted, invalid]).size).toBe(3);
    expect(await invoke(analyst, GIT_TOOL, {})).toBe(403);

    const statuses = new Map<string, number>();
    const unexpected: string[] = [];
    let loading = true;
    const MAX_ROUNDS = 500;
    async function worker(index: number): Promise<void> {
      for (let round = 0; loading && round < MAX_ROUNDS; round += 1) {
        const asAnalyst = index % 2 === 0;
        try {
          const status = asAnalyst
            ? await invoke(analyst, GIT_TOOL, {})
            : await invoke(developer, "calculator.exact_calculate", CALCULATION);
          const key = `${asAnalyst ? "analyst" : "developer"} ${status}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          // The analyst is allowed or refused; nobody is ever answered with an error.
          if (!(status === 200 || (asAnalyst && status === 403))) unexpected.push(key);
        } catch (error) {
          unexpected.push((error as Error).message);
        }
      }
    }

    const load = Promise.all(Array.from({ length: 4 }, (_, index) => worker(index)));
    try {
      await reloadPolicy(granted, "ok");
      expect(await invoke(analyst, GIT_TOOL, {})).toBe(200);
      await reloadPolicy(invalid, "invalid");
      expect(await invoke(analyst, GIT_TOOL, {})).toBe(200);
      await reloadPolicy(POLICY, "ok");
      expect(await invoke(analyst, GIT_TOOL, {})).toBe(403);
    } finally {
      loading = false;
      await load;
    }
    expect(unexpected).toEqual([]);
    expect(statuses.get("developer 200")).toBeGreaterThan(0);
    expect(statuses.get("analyst 403")).toBeGreaterThan(0);

    // One reload, seen by both: each counts and audits it.
    const counts = { ok: 2, invalid: 1, failed: 0 };
    expect(stack.extAuthz.configStatus().counts).toEqual(counts);
    expect(stack.router.configStatus().counts).toEqual(counts);
    expect(stack.router.configStatus().digests).toEqual(stack.extAuthz.configStatus().digests);
    await stack.audit.flush();
    const rows = await stack.database.db
      .selectFrom("audit_events")
      .select(["source", "outcome", "reason"])
      .where("kind", "=", "config")
      .orderBy("id")
      .execute();
    for (const source of ["ext-authz", "router"] as const) {
      expect(rows.filter((row) => row.source === source).map((row) => row.outcome)).toEqual([
        "ok",
        "rejected",
        "ok",
      ]);
    }
  });
});
