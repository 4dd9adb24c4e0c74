import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../store/src/open-database.ts";
import { signDevToken } from "../token-cli.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

describe("npm start (dev/main.ts)", () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  });

  it("prints the endpoints and the token command, serves, and flushes the audit on SIGTERM", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "gateway-main-"));
    dirs.push(dataDir);
    const child = spawn(process.execPath, ["--import", "tsx", "dev/main.ts"], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        PORT: "0",
        EXT_AUTHZ_PORT: "0",
        DATA_DIR: dataDir,
        LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match && stdout.includes("npm run -s token")) resolve(match[1]!);
      });
      child.once("exit", (code) => reject(new Error(`exited early with ${code}: ${stdout}`)));
    });
    expect(stdout).toContain(`${url}/calculator/sse`);
    expect(stdout).toContain(`${url}/git/sse`);
    expect(stdout).toContain(`${url}/docs/sse`);

    const token = await signDevToken({ user: "demo", roles: ["developer"], ttlSeconds: 60 }, {});
    const response = await fetch(`${url}/mcp/invoke`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        tool_name: "calculator.exact_calculate",
        arguments: { operator: "add", operands: ["0.1", "0.2"] },
      }),
    });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as { request_id: string; result: unknown };
    expect(answer.result).toMatchObject({ structuredContent: { result: "0.3" } });

    const exited = once(child, "exit");
    child.kill("SIGTERM");
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);

    // The process is gone: the audit rows it queued must be on disk.
    const database = await openDatabase({ dataDir });
    try {
      const rows = await database.db
        .selectFrom("audit_events")
        .select(["outcome", "subject", "tool"])
        .where("request_id", "=", answer.request_id)
        .where("source", "=", "router")
        .execute();
      expect(rows).toEqual([{ outcome: "ok", subject: "demo", tool: "exact_calculate" }]);
    } finally {
      await database.close();
    }
  });
});
