import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { decodeJwt } from "jose";
import { parseTokenArgs, signDevToken } from "../token-cli.ts";
import { tokenSettings } from "../../ext-authz/src/main.ts";
import { createTokenVerifier } from "../../ext-authz/src/policy/token.ts";
import { createTokenKeys } from "../../ext-authz/src/runtime/keys.ts";
import { parseExtAuthzEnv } from "../../ext-authz/src/settings.ts";

const run = promisify(execFile);
// `npm run token`'s program, compiled: plain node starts it in a fraction of tsx's time.
const CLI = [fileURLToPath(new URL("../../dist/dev/token-cli.js", import.meta.url))];
const STRONG_KEY = "jwt-secret-0123456789-abcdefghijklmnopq";
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});
/** The CLI reads `./.env`: a scratch working directory keeps a developer's own out of the tests. */
async function scratch(dotEnv?: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "gateway-token-"));
  dirs.push(dir);
  if (dotEnv !== undefined) await writeFile(path.join(dir, ".env"), dotEnv);
  return dir;
}

function verifierFor(env: Record<string, string | undefined>) {
  const parsed = parseExtAuthzEnv(env);
  return createTokenVerifier({
    settings: tokenSettings(parsed),
    keys: createTokenKeys({
      secret: parsed.JWT_SECRET_KEY,
      publicKeyPem: undefined,
      jwksUrl: undefined,
      jwksTimeoutMs: 1000,
      jwksCooldownSeconds: 30,
      jwksCacheMaxAgeSeconds: 600,
    }),
    now: Date.now,
  });
}

describe("dev token command", () => {
  it("signs a token that ext-authz with the same env accepts", async () => {
    const env = {
      NODE_ENV: "development",
      JWT_ISSUER: "http://issuer.test",
      JWT_ROLES_CLAIM: "groups",
    };
    const token = await signDevToken(
      { user: "demo", roles: ["developer", "analyst"], tenant: "t1", ttlSeconds: 600 },
      env,
    );
    const result = await verifierFor(env).verify(token);
    expect(result).toMatchObject({
      ok: true,
      identity: { subject: "demo", roles: ["developer", "analyst"], tenant: "t1" },
    });
    // A different issuer setting refuses it.
    expect(await verifierFor({ ...env, JWT_ISSUER: "http://other" }).verify(token)).toMatchObject({
      ok: false,
    });
  });

  it.each(["development", "test"])(
    "uses the development defaults with NODE_ENV=%s",
    async (nodeEnv) => {
      const token = await signDevToken(
        { user: "demo", roles: ["developer"], ttlSeconds: 60 },
        { NODE_ENV: nodeEnv },
      );
      expect(await verifierFor({ NODE_ENV: "development" }).verify(token)).toMatchObject({
        ok: true,
      });
    },
  );

  it("signs with the development key when NODE_ENV is unset and no key is configured", async () => {
    const token = await signDevToken({ user: "u", roles: ["developer"], ttlSeconds: 60 }, {});
    expect(await verifierFor({ NODE_ENV: "development" }).verify(token)).toMatchObject({
      ok: true,
    });
  });

  it.each([
    ["unset with a configured key", { JWT_SECRET_KEY: STRONG_KEY }],
    ["empty with a configured key", { NODE_ENV: "", JWT_SECRET_KEY: STRONG_KEY }],
    ["production", { NODE_ENV: "production" }],
    ["production with a configured key", { NODE_ENV: "production", JWT_SECRET_KEY: STRONG_KEY }],
    ["staging", { NODE_ENV: "staging" }],
  ])("refuses NODE_ENV %s with a clear message", async (_label, env) => {
    await expect(signDevToken({ user: "u", roles: ["r"], ttlSeconds: 60 }, env)).rejects.toThrow(
      /refusing to mint tokens.*set NODE_ENV=development or NODE_ENV=test/,
    );
  });

  it("refuses public-key setups", async () => {
    await expect(
      signDevToken(
        { user: "u", roles: ["r"], ttlSeconds: 60 },
        {
          NODE_ENV: "development",
          JWT_JWKS_URL: "http://127.0.0.1:1/jwks",
          JWT_ALLOWED_ALGORITHMS: "RS256",
        },
      ),
    ).rejects.toThrow(/public key or JWKS/);
  });

  it.each([
    [[], /--user/],
    [["--user", "demo"], /--roles/],
    [["--user", "demo", "--roles", " , "], /--roles/],
    [["--user", "demo", "--roles", "dev", "--ttl", "0"], /--ttl/],
    [["--user", "demo", "--roles", "dev", "--ttl", "1h"], /--ttl/],
    [["--user", "demo", "--roles", "dev", "--ttl", "99999999"], /--ttl/],
    [["--user", "demo", "--roles", "dev", "--admin"], /admin/],
    [["--user", "demo", "--roles", "dev", "extra"], /extra|positional/i],
  ])("rejects arguments %j", (argv, message) => {
    const parsed = parseTokenArgs(argv);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(message);
  });

  it("parses the documented form", () => {
    expect(
      parseTokenArgs([
        "--user",
        "demo",
        "--roles",
        "developer,analyst",
        "--tenant",
        "t",
        "--ttl",
        "3600",
      ]),
    ).toEqual({
      ok: true,
      request: { user: "demo", roles: ["developer", "analyst"], tenant: "t", ttlSeconds: 3600 },
    });
  });

  it("exits 1 with the reason on stderr when NODE_ENV is unset and a key is configured", async () => {
    const failed = await run(process.execPath, [...CLI, "--user", "demo", "--roles", "developer"], {
      cwd: await scratch(),
      env: { PATH: process.env.PATH, JWT_SECRET_KEY: STRONG_KEY },
    }).then(
      () => undefined,
      (error: { code?: number; stdout?: string; stderr?: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stdout).toBe("");
    expect(failed?.stderr).toMatch(/NODE_ENV=\(unset\).*NODE_ENV=development/);
  });

  it("prints only the token on stdout", async () => {
    const { stdout } = await run(
      process.execPath,
      [...CLI, "--user", "demo", "--roles", "developer"],
      {
        cwd: await scratch(),
        env: { PATH: process.env.PATH, NODE_ENV: "development" },
      },
    );
    expect(stdout).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    const token = stdout.trim();
    expect(await verifierFor({ NODE_ENV: "development" }).verify(token)).toMatchObject({
      ok: true,
    });
  });

  it("reads ./.env like npm start, the real environment winning", async () => {
    const cwd = await scratch(
      `NODE_ENV=development\nJWT_SECRET_KEY=${STRONG_KEY}\nJWT_ROLES_CLAIM=groups\nJWT_AUDIENCE=from-file\n`,
    );
    const { stdout } = await run(process.execPath, [...CLI, "--user", "demo", "--roles", "dev"], {
      cwd,
      env: { PATH: process.env.PATH, JWT_AUDIENCE: "from-env" },
    });
    const env = {
      NODE_ENV: "development",
      JWT_SECRET_KEY: STRONG_KEY,
      JWT_ROLES_CLAIM: "groups",
      JWT_AUDIENCE: "from-env",
    };
    expect(await verifierFor(env).verify(stdout.trim())).toMatchObject({
      ok: true,
      identity: { subject: "demo", roles: ["dev"] },
    });
    expect(
      await verifierFor({ ...env, JWT_AUDIENCE: "from-file" }).verify(stdout.trim()),
    ).toMatchObject({ ok: false });
  });

  it.each([
    ["the defaults", {}, "http://localhost:8010"],
    ["JWT_ISSUER_PORT", { JWT_ISSUER_PORT: "8011" }, "http://localhost:8011"],
    ["a wildcard HOST", { HOST: "0.0.0.0", JWT_ISSUER_PORT: "8012" }, "http://localhost:8012"],
    ["a specific HOST", { HOST: "10.1.2.3" }, "http://10.1.2.3:8010"],
    [
      "an explicit JWT_ISSUER",
      { JWT_ISSUER: "http://id.test", HOST: "10.1.2.3" },
      "http://id.test",
    ],
    // Port 0 is named only by the running stack: ext-authz's own default remains.
    ["JWT_ISSUER_PORT=0", { JWT_ISSUER_PORT: "0" }, "http://localhost:8010"],
    ["a JWT_ISSUER_PORT that is no port", { JWT_ISSUER_PORT: "eighty" }, "http://localhost:8010"],
  ])("names npm start's development issuer with %s", async (_label, env, issuer) => {
    const token = await signDevToken(
      { user: "demo", roles: ["developer"], ttlSeconds: 60 },
      { NODE_ENV: "development", ...env },
    );
    expect(decodeJwt(token).iss).toBe(issuer);
  });
});
