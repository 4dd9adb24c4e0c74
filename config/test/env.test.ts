import { execFile } from "node:child_process";
import { mkdtemp, copyFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  baseEnvShape,
  booleanString,
  commaList,
  devSecretDefault,
  EnvError,
  logLevel,
  parseEnv,
  portNumber,
  secretSchema,
} from "../src/env.ts";

const strong = "k3Y-9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c";

const schema = z.object({
  ...baseEnvShape,
  GATEWAY_VERDICT_KEY: secretSchema("GATEWAY_VERDICT_KEY"),
  JWT_SECRET_KEY: secretSchema("JWT_SECRET_KEY", { optional: true, devDefault: null }),
  PORT: portNumber.default(8080),
  ACCEPT_STATIC: booleanString.default(false),
  ALLOWED_ORIGINS: commaList.default([]),
});

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof EnvError) return [...error.problems];
    throw error;
  }
  throw new Error("expected an EnvError");
}

describe("parseEnv", () => {
  it("returns typed values with defaults", () => {
    const env = parseEnv(schema, {
      GATEWAY_VERDICT_KEY: strong,
      PORT: "9000",
      ALLOWED_ORIGINS: "a, b,,",
    });
    expect(env).toEqual({
      NODE_ENV: "production",
      LOG_LEVEL: undefined,
      DEBUG: false,
      GATEWAY_VERDICT_KEY: strong,
      JWT_SECRET_KEY: undefined,
      PORT: 9000,
      ACCEPT_STATIC: false,
      ALLOWED_ORIGINS: ["a", "b"],
    });
  });

  it("lists every bad variable in one error and never prints secret values", () => {
    const weak = "short-secret-value";
    const list = problems(() =>
      parseEnv(schema, {
        NODE_ENV: "staging",
        GATEWAY_VERDICT_KEY: weak,
        JWT_SECRET_KEY: "x".repeat(40),
        PORT: "70000",
        ACCEPT_STATIC: "maybe",
        LOG_LEVEL: "loud",
      }),
    );
    expect(list).toEqual([
      'NODE_ENV: expected one of "development", "test", "production"',
      'LOG_LEVEL: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"',
      "GATEWAY_VERDICT_KEY: weak secret: too short: at least 32 characters required",
      "JWT_SECRET_KEY: weak secret: too little variety of characters",
      "PORT: expected a port number 0-65535",
      "ACCEPT_STATIC: expected a boolean (true/false, 1/0, yes/no, on/off)",
    ]);
    expect(list.join("\n")).not.toContain(weak);
  });

  it("refuses a missing secret outside development", () => {
    expect(problems(() => parseEnv(schema, {}))).toEqual([
      "GATEWAY_VERDICT_KEY: required secret is not set",
    ]);
  });

  it("refuses the development default outside development", () => {
    expect(
      problems(() =>
        parseEnv(schema, { GATEWAY_VERDICT_KEY: devSecretDefault("GATEWAY_VERDICT_KEY") }),
      ),
    ).toEqual([
      "GATEWAY_VERDICT_KEY: weak secret: a development default is not allowed outside development",
    ]);
  });

  it.each(["development", "test"])(
    "NODE_ENV=%s uses the documented dev default and accepts weak secrets",
    (nodeEnv) => {
      const env = parseEnv(schema, { NODE_ENV: nodeEnv });
      expect(env.GATEWAY_VERDICT_KEY).toBe(
        "dev-insecure-gateway-verdict-key-do-not-use-in-production",
      );
      expect(env.JWT_SECRET_KEY).toBeUndefined();
      expect(
        parseEnv(schema, { NODE_ENV: nodeEnv, GATEWAY_VERDICT_KEY: "dev" }).GATEWAY_VERDICT_KEY,
      ).toBe("dev");
    },
  );

  it("takes NODE_ENV's schema default into account when NODE_ENV is unset", () => {
    const devStack = z.object({
      ...baseEnvShape,
      NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
      GATEWAY_VERDICT_KEY: secretSchema("GATEWAY_VERDICT_KEY"),
    });
    expect(parseEnv(devStack, {}).GATEWAY_VERDICT_KEY).toBe(
      devSecretDefault("GATEWAY_VERDICT_KEY"),
    );
    expect(problems(() => parseEnv(devStack, { NODE_ENV: "production" }))).toEqual([
      "GATEWAY_VERDICT_KEY: required secret is not set",
    ]);
  });

  it("treats blank values as unset", () => {
    const env = parseEnv(schema, { GATEWAY_VERDICT_KEY: strong, PORT: "", JWT_SECRET_KEY: "" });
    expect(env.PORT).toBe(8080);
    expect(env.JWT_SECRET_KEY).toBeUndefined();
  });
});

describe("small schemas", () => {
  it.each([
    ["true", true],
    ["TRUE", true],
    ["1", true],
    ["yes", true],
    ["on", true],
    ["false", false],
    ["0", false],
    ["no", false],
    ["off", false],
  ])("booleanString %j", (text, value) => {
    expect(booleanString.parse(text)).toBe(value);
  });

  it.each(["2", "truthy", "y"])("booleanString rejects %j", (text) => {
    expect(booleanString.safeParse(text).success).toBe(false);
  });

  it.each(["-1", "65536", "80.5", "0x50", "port"])("portNumber rejects %j", (text) => {
    expect(portNumber.safeParse(text).success).toBe(false);
  });

  it("portNumber accepts 0 and 65535", () => {
    expect(portNumber.parse("0")).toBe(0);
    expect(portNumber.parse("65535")).toBe(65535);
  });

  it("DEBUG=true means debug", () => {
    expect(logLevel({ DEBUG: true })).toBe("debug");
    expect(logLevel({ DEBUG: true, LOG_LEVEL: "warn" })).toBe("debug");
    expect(logLevel({ DEBUG: true, LOG_LEVEL: "trace" })).toBe("trace");
    expect(logLevel({ DEBUG: false, LOG_LEVEL: "warn" })).toBe("warn");
    expect(logLevel({})).toBe("info");
    expect(logLevel(parseEnv(z.object(baseEnvShape), { DEBUG: "1" }))).toBe("debug");
  });
});

describe("check-config CLI", () => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const cli = fileURLToPath(new URL("../../dist/config/src/check-config.js", import.meta.url));
  const run = promisify(execFile);

  it("prints a summary for the shipped files", async () => {
    const { stdout } = await run(process.execPath, [cli], {
      env: { ...process.env, CONFIG_DIR: path.join(here, "..") },
    });
    expect(stdout.trim()).toBe("config OK: 3 scopes, 15 tools, 4 roles");
  });

  it("prints the errors and exits 1 for a bad file", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gw-check-"));
    try {
      await copyFile(
        path.join(here, "fixtures", "tools-duplicate-tool.yaml"),
        path.join(dir, "tools.yaml"),
      );
      await copyFile(
        path.join(here, "fixtures", "policy-minimal.yaml"),
        path.join(dir, "policy.yaml"),
      );
      const failure = await run(process.execPath, [cli], {
        env: { ...process.env, CONFIG_DIR: dir },
      }).then(
        () => undefined,
        (error: unknown) => error as { code: number; stderr: string },
      );
      expect(failure?.code).toBe(1);
      expect(failure?.stderr).toContain(
        'tools.yaml: scopes.calculator.tools[2].name: duplicate tool "exact_calculate"',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
