import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { authFromEnv, parseToolServerEnv } from "../src/tool-server-env.ts";

const SECRET = "tool-secret-0123456789-abcdefghijklmnop";

describe("parseToolServerEnv", () => {
  it("applies defaults", () => {
    const parsed = parseToolServerEnv({ TOOL_GATEWAY_SHARED_SECRET: SECRET }, 8091);
    expect(parsed).toEqual({
      ok: true,
      env: {
        NODE_ENV: "production",
        PORT: 8091,
        HOST: "127.0.0.1",
        TOOL_GATEWAY_SHARED_SECRET: SECRET,
        TOOL_GATEWAY_ACCEPT_STATIC_SECRET: false,
        MAX_REQUEST_BYTES: 1_048_576,
        LOG_LEVEL: "info",
      },
    });
  });

  it("reads every variable", () => {
    const parsed = parseToolServerEnv(
      {
        PORT: "9000",
        HOST: "0.0.0.0",
        TOOL_GATEWAY_SHARED_SECRET: SECRET,
        TOOL_GATEWAY_ACCEPT_STATIC_SECRET: "true",
        MAX_REQUEST_BYTES: "2048",
        LOG_LEVEL: "debug",
      },
      8093,
    );
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.env).toMatchObject({
      PORT: 9000,
      HOST: "0.0.0.0",
      MAX_REQUEST_BYTES: 2048,
      LOG_LEVEL: "debug",
    });
    expect(authFromEnv(parsed.env)).toEqual({ secret: SECRET, staticSecret: SECRET });
  });

  it.each([
    [{}, /TOOL_GATEWAY_SHARED_SECRET is required/],
    [{ TOOL_GATEWAY_SHARED_SECRET: "short" }, /at least 32 characters/],
    [{ TOOL_GATEWAY_SHARED_SECRET: SECRET, PORT: "80a" }, /PORT must be a whole number/],
    [{ TOOL_GATEWAY_SHARED_SECRET: SECRET, PORT: "" }, /PORT must be a whole number/],
    [{ TOOL_GATEWAY_SHARED_SECRET: SECRET, PORT: "70000" }, /PORT must be at most 65535/],
    [
      { TOOL_GATEWAY_SHARED_SECRET: SECRET, MAX_REQUEST_BYTES: "0" },
      /MAX_REQUEST_BYTES must be at least 1/,
    ],
    [
      { TOOL_GATEWAY_SHARED_SECRET: SECRET, TOOL_GATEWAY_ACCEPT_STATIC_SECRET: "yes" },
      /true, false, 1 or 0/,
    ],
    [{ TOOL_GATEWAY_SHARED_SECRET: SECRET, LOG_LEVEL: "loud" }, /LOG_LEVEL/],
    [{ TOOL_GATEWAY_SHARED_SECRET: SECRET, HOST: "" }, /HOST must not be empty/],
    [{ TOOL_GATEWAY_SHARED_SECRET: "a".repeat(40) }, /weak secret: too little variety/],
    [
      {
        TOOL_GATEWAY_SHARED_SECRET:
          "dev-insecure-tool-gateway-shared-secret-do-not-use-in-production",
      },
      /development default is not allowed/,
    ],
  ])("rejects %j", (env, message) => {
    const parsed = parseToolServerEnv(env, 8091);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toMatch(message);
  });

  it("uses the documented development secret only in development", () => {
    const parsed = parseToolServerEnv({ NODE_ENV: "development" }, 8091);
    if (!parsed.ok) throw new Error(parsed.message);
    expect(parsed.env.TOOL_GATEWAY_SHARED_SECRET).toBe(
      "dev-insecure-tool-gateway-shared-secret-do-not-use-in-production",
    );
    expect(parseToolServerEnv({ NODE_ENV: "production" }, 8091).ok).toBe(false);
  });
});

describe("tool server main", () => {
  const main = fileURLToPath(
    new URL("../../../dist/tools/calculator/src/main.js", import.meta.url),
  );

  it("starts from the environment, serves /health and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [main], {
      env: { ...process.env, PORT: "0", TOOL_GATEWAY_SHARED_SECRET: SECRET, LOG_LEVEL: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let buffered = "";
        child.stdout.on("data", (chunk: Buffer) => {
          buffered += chunk.toString("utf8");
          const match = /"url":"(http:\/\/[^"]+)"/.exec(buffered);
          if (match) resolve(match[1]!);
        });
        child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
      });
      const health = await fetch(`${url}/health`);
      expect(await health.json()).toMatchObject({ status: "ok", name: "calculator" });
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("exits 1 with a clear message when the secret is missing", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_ENV: "production" };
    delete env.TOOL_GATEWAY_SHARED_SECRET;
    const child = spawn(process.execPath, [main], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toContain(
      "calculator: invalid environment: TOOL_GATEWAY_SHARED_SECRET: TOOL_GATEWAY_SHARED_SECRET is required",
    );
  });
});
