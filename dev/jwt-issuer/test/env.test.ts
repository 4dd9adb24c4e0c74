import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { devSecretDefault } from "../../../config/src/env.ts";
import { parseIssuerEnv } from "../src/env.ts";

describe("parseIssuerEnv", () => {
  it("applies the documented defaults in development", () => {
    const result = parseIssuerEnv({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.env.NODE_ENV).toBe("development");
    expect(result.env.PORT).toBe(8010);
    expect(result.env.HOST).toBe("127.0.0.1");
    expect(result.env.JWT_ISSUER).toBe("http://localhost:8010");
    expect(result.env.JWT_AUDIENCE).toBe("mcp-gateway");
    expect(result.env.ISSUER_ALGORITHM).toBe("HS256");
    expect(result.env.MAX_EXPIRES_IN_SECONDS).toBe(3600);
    expect(result.env.JWT_ISSUER_ADMIN_TOKEN).toBeUndefined();
    // The same development key every other service derives, so tokens verify out of the box.
    expect(result.env.JWT_SECRET_KEY).toBe(devSecretDefault("JWT_SECRET_KEY"));
  });

  it("reads explicit values", () => {
    const result = parseIssuerEnv({
      PORT: "0",
      HOST: "0.0.0.0",
      ISSUER_ALGORITHM: "ES256",
      JWT_ISSUER_ADMIN_TOKEN: "admin-token",
      MAX_EXPIRES_IN_SECONDS: "60",
      NODE_ENV: "test",
    });
    expect(result.ok && result.env.ISSUER_ALGORITHM).toBe("ES256");
    expect(result.ok && result.env.PORT).toBe(0);
    expect(result.ok && result.env.MAX_EXPIRES_IN_SECONDS).toBe(60);
    expect(result.ok && result.env.JWT_ISSUER_ADMIN_TOKEN).toBe("admin-token");
  });

  it("refuses production", () => {
    const result = parseIssuerEnv({ NODE_ENV: "production", JWT_SECRET_KEY: "x".repeat(40) });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.join()).toMatch(/refuses to run with NODE_ENV=production/);
  });

  it.each([
    [{ ISSUER_ALGORITHM: "none" }, /ISSUER_ALGORITHM/],
    [{ PORT: "eighty" }, /PORT/],
    [{ PORT: "70000" }, /PORT/],
    [{ MAX_EXPIRES_IN_SECONDS: "0" }, /MAX_EXPIRES_IN_SECONDS/],
    [{ JWT_ISSUER: "not a url" }, /JWT_ISSUER/],
    [{ NODE_ENV: "staging" }, /NODE_ENV/],
  ])("rejects %o", (source, pattern) => {
    const result = parseIssuerEnv(source);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.problems.join("\n")).toMatch(pattern);
  });
});

const MAIN = fileURLToPath(new URL("../../../dist/dev/jwt-issuer/src/main.js", import.meta.url));

describe("main", () => {
  it("exits non-zero with a clear message under NODE_ENV=production", async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: { ...process.env, NODE_ENV: "production", PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    expect(code).toBe(1);
    expect(stderr).toMatch(/refuses to run with NODE_ENV=production/);
  });

  it("starts, logs its address and serves /health", async () => {
    const child = spawn(process.execPath, [MAIN], {
      env: {
        ...process.env,
        NODE_ENV: "development",
        PORT: "0",
        HOST: "127.0.0.1",
        LOG_LEVEL: "info",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      let url: string | undefined;
      for await (const line of lines) {
        const record = JSON.parse(line) as { url?: string };
        if (record.url) {
          url = record.url;
          break;
        }
      }
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const response = await fetch(`${url}/health`);
      expect(response.status).toBe(200);
    } finally {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
  });
});
