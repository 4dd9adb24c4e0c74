import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { censorSecrets, createLogger } from "../src/log.ts";

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const lines = () =>
    chunks
      .join("")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { lines, stream };
}

describe("censorSecrets", () => {
  it("returns the same object when nothing is secret", () => {
    const fields = { requestId: "r1", scope: "git", nested: { tool: "git_log" }, list: [1] };
    expect(censorSecrets(fields)).toBe(fields);
  });

  it("censors secret fields at the top level and one level down, any case", () => {
    const fields = {
      token: "t0",
      Password: "p0",
      ACCESS_TOKEN: "a0",
      upstream: { accessToken: "a1", secret: "s1", keep: 1 },
      keep: "k",
    };
    expect(censorSecrets(fields)).toEqual({
      token: "[redacted]",
      Password: "[redacted]",
      ACCESS_TOKEN: "[redacted]",
      upstream: { accessToken: "[redacted]", secret: "[redacted]", keep: 1 },
      keep: "k",
    });
    expect(fields.token).toBe("t0");
    expect(fields.upstream.accessToken).toBe("a1");
  });

  it("censors secret headers of headers, req.headers and any *.headers", () => {
    const fields = {
      headers: { Authorization: "Bearer x", accept: "*/*" },
      req: { headers: { cookie: "c", "x-gateway-auth": "v1.x", host: "h" } },
      response: { headers: { "set-cookie": "s", "x-gateway-verdict": "v" } },
    };
    expect(censorSecrets(fields)).toEqual({
      headers: { Authorization: "[redacted]", accept: "*/*" },
      req: { headers: { cookie: "[redacted]", "x-gateway-auth": "[redacted]", host: "h" } },
      response: { headers: { "set-cookie": "[redacted]", "x-gateway-verdict": "[redacted]" } },
    });
  });

  it("keeps an Error an Error of the same class while censoring its fields", () => {
    const error = Object.assign(new TypeError("bad"), { token: "t" });
    const censored = censorSecrets({ err: error }).err;
    expect(censored).toBeInstanceOf(TypeError);
    expect(censored).toMatchObject({ message: "bad", token: "[redacted]" });
    expect(censored.stack).toBe(error.stack);
    expect(error.token).toBe("t");
  });

  it("goes no deeper than one level (the documented reach)", () => {
    const fields = { a: { b: { token: "deep" } } };
    expect(censorSecrets(fields)).toBe(fields);
  });
});

describe("createLogger", () => {
  it("never writes a secret from a log object or from child bindings", () => {
    const out = capture();
    const logger = createLogger({ name: "test", destination: out.stream });
    logger.info({ headers: { authorization: "Bearer abc" }, token: "abc" }, "one");
    const child = logger.child({ token: "abc", requestId: "r1" });
    child.child({ upstream: { secret: "abc" } }).info({ err: { password: "abc" } }, "two");

    const text = JSON.stringify(out.lines());
    expect(text).not.toContain("abc");
    const [first, second] = out.lines();
    expect(first).toMatchObject({
      service: "test",
      msg: "one",
      token: "[redacted]",
      headers: { authorization: "[redacted]" },
    });
    expect(second).toMatchObject({
      requestId: "r1",
      token: "[redacted]",
      upstream: { secret: "[redacted]" },
      err: { password: "[redacted]" },
      msg: "two",
    });
  });

  it("serializes a censored error with its type, message and stack", () => {
    const out = capture();
    const logger = createLogger({ name: "test", destination: out.stream });
    logger.error({ err: Object.assign(new RangeError("out of range"), { secret: "abc" }) }, "x");
    const [line] = out.lines();
    expect(line!.err).toMatchObject({
      type: "RangeError",
      message: "out of range",
      secret: "[redacted]",
    });
    expect(String((line!.err as { stack: string }).stack)).toContain("RangeError: out of range");
  });
});
