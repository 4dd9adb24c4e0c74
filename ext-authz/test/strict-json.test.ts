import { describe, expect, it } from "vitest";
import { parseStrictJson } from "../src/policy/strict-json.ts";

/**
 * Examples for the strict JSON reader (strict-json.property.test.ts checks it against a model):
 * each closing bracket ends its container, so keys are compared within one object only, and
 * strings are skipped whole, escapes included.
 */
const outcome = (text: string, maxDepth = 64) => {
  const result = parseStrictJson(text, maxDepth);
  return result.ok ? "ok" : result.error;
};

describe("strict JSON reader", () => {
  it("reads the value as JSON.parse does", () => {
    expect(parseStrictJson('{"a":[1,{"b":"x"}],"c":null}', 64)).toEqual({
      ok: true,
      value: { a: [1, { b: "x" }], c: null },
    });
  });

  it.each([
    ['{"a":1,"a":2}', "duplicate_key"],
    ['{"a":1,"b":{"c":1},"a":2}', "duplicate_key"],
    // A key after a nested object or array is a key of the outer object again.
    ['{"a":{"b":1},"b":2}', "ok"],
    ['{"a":{"b":1},"a":2}', "duplicate_key"],
    ['{"a":[],"a":1}', "duplicate_key"],
    ['{"a":[{"b":1}],"a":1}', "duplicate_key"],
    ['{"a":[[]],"b":[],"a":0}', "duplicate_key"],
    // Objects in an array, and strings in an array, are not keys of one object.
    ['[{"a":1},{"a":1}]', "ok"],
    ['["a","a"]', "ok"],
    ['{"a":["b","b"],"b":["a"]}', "ok"],
    ['[1,"x",{"x":"x"},"x"]', "ok"],
  ] as const)("%s: %s", (text, expected) => {
    expect(outcome(text)).toBe(expected);
  });

  it("counts only the open containers against the depth limit", () => {
    expect(outcome("[[],[],[]]", 2)).toBe("ok");
    expect(outcome('{"a":{},"b":{},"c":{}}', 2)).toBe("ok");
    expect(outcome('[{"a":[]},{"b":[]}]', 3)).toBe("ok");
    expect(outcome("[[[]]]", 2)).toBe("too_deep");
  });

  it.each([
    // An escaped quote does not end a string: the brackets and keys after it are inside it.
    ['{"a\\"}":1,"b":2}', "ok"],
    ['{"x":"\\"{\\"","x":1}', "duplicate_key"],
    ['{"a":"\\\\","a":1}', "duplicate_key"],
    ['["\\"]","]"]', "ok"],
    // Keys are compared after unescaping.
    ['{"a":1,"\\u0061":2}', "duplicate_key"],
    ['{"a\\"":1,"a\\u0022":2}', "duplicate_key"],
    ['{"\\\\":1,"\\u005c":2}', "duplicate_key"],
    ['{"a\\\\":1,"a":2}', "ok"],
  ] as const)("%s: %s", (text, expected) => {
    expect(outcome(text)).toBe(expected);
  });

  it.each(['"abc', '{"a":"b', '{"a', '["\\"]', '"\\', "{", '{"a":1,"a":2'])(
    "refuses %s, which JSON.parse cannot read, as a parse error",
    (text) => {
      expect(parseStrictJson(text, 64)).toEqual({ ok: false, error: "parse_error" });
    },
  );
});
