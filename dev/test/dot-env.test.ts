import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EnvError } from "../../config/src/env.ts";
import { applyDotEnv, readDotEnv } from "../dot-env.ts";

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
async function dirWith(content?: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "gateway-dotenv-"));
  dirs.push(dir);
  if (content !== undefined) await writeFile(path.join(dir, ".env"), content);
  return dir;
}

describe(".env", () => {
  it("is optional", async () => {
    expect(readDotEnv(await dirWith())).toBeUndefined();
  });

  it("is read with Node's parser: comments, quotes, export, blanks", async () => {
    const dir = await dirWith(
      [
        "# comment",
        "PORT=9123",
        'GATEWAY_PUBLIC_URL="https://mcp.example.com"',
        "export LOG_LEVEL=debug",
        "ALLOWED_ORIGINS=",
        "JWT_ISSUER='http://localhost:8011' # trailing comment",
        "",
      ].join("\n"),
    );
    expect(readDotEnv(dir)).toEqual({
      file: path.join(dir, ".env"),
      variables: {
        PORT: "9123",
        GATEWAY_PUBLIC_URL: "https://mcp.example.com",
        LOG_LEVEL: "debug",
        ALLOWED_ORIGINS: "",
        JWT_ISSUER: "http://localhost:8011",
      },
    });
  });

  it("never overrides the real environment, even a blank value", () => {
    const target: Record<string, string | undefined> = { PORT: "0", HOST: "" };
    const applied = applyDotEnv(target, { PORT: "9123", HOST: "0.0.0.0", LOG_LEVEL: "warn" });
    expect(applied).toEqual(["LOG_LEVEL"]);
    expect(target).toEqual({ PORT: "0", HOST: "", LOG_LEVEL: "warn" });
  });

  it("that cannot be read is an environment error naming the file", async () => {
    const dir = await dirWith();
    await mkdir(path.join(dir, ".env"));
    expect(() => readDotEnv(dir)).toThrow(EnvError);
    expect(() => readDotEnv(dir)).toThrow(`cannot read ${path.join(dir, ".env")} (EISDIR)`);
  });
});
