import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseStrictJson } from "../src/policy/strict-json.ts";

/**
 * Properties of the strict JSON reader against a model: it is JSON.parse plus "no object repeats
 * a key (compared after unescaping), at any depth" plus "no more than maxDepth open containers".
 * The generated texts spell keys and strings with random escapes and put JSON's own
 * metacharacters inside strings, so a scanner that miscounts brackets or compares raw key bytes
 * is caught.
 */

type Text = { decoded: string; text: string };
type Node =
  | { kind: "scalar"; text: string; value: unknown }
  | { kind: "string"; text: Text }
  | { kind: "array"; items: Node[] }
  | { kind: "object"; entries: [Text, Node][] };

/** Characters that stress a JSON scanner: quotes, backslashes, brackets, controls, a pair. */
const TRICKY_CHAR = fc.constantFrom(
  "a",
  "b",
  '"',
  "\\",
  "/",
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
  " ",
  "\u0000",
  "\n",
  "é",
  "😀",
);

/** Each UTF-16 unit spelt either as JSON.stringify would or as a `\uXXXX` escape. */
function spell(char: string, escape: boolean): string {
  if (!escape) return JSON.stringify(char).slice(1, -1);
  return [...Array(char.length).keys()]
    .map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, "0")}`)
    .join("");
}

function textArb(maxLength: number): fc.Arbitrary<Text> {
  return fc.array(fc.tuple(TRICKY_CHAR, fc.boolean()), { maxLength }).map((parts) => ({
    decoded: parts.map(([char]) => char).join(""),
    text: `"${parts.map(([char, escape]) => spell(char, escape)).join("")}"`,
  }));
}

const scalarArb: fc.Arbitrary<Node> = fc.oneof(
  fc
    .constantFrom("true", "false", "null")
    .map((text): Node => ({ kind: "scalar", text, value: JSON.parse(text) })),
  fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n): Node => {
    const text = JSON.stringify(n);
    return { kind: "scalar", text, value: JSON.parse(text) };
  }),
  textArb(6).map((text): Node => ({ kind: "string", text })),
);

/** Keys from a tiny alphabet, so objects often repeat one (possibly spelt differently). */
const keyArb = textArb(2);

const { node: nodeArb } = fc.letrec<{ node: Node; array: Node; object: Node }>((tie) => ({
  node: fc.oneof({ maxDepth: 6, depthSize: "small" }, scalarArb, tie("array"), tie("object")),
  array: fc.array(tie("node"), { maxLength: 4 }).map((items): Node => ({ kind: "array", items })),
  object: fc
    .array(fc.tuple(keyArb, tie("node")), { maxLength: 4 })
    .map((entries): Node => ({ kind: "object", entries })),
}));

const WHITESPACE = fc.constantFrom("", " ", "\n  ", "\t", "\r\n ");

function render(node: Node, ws: string): string {
  switch (node.kind) {
    case "scalar":
      return node.text;
    case "string":
      return node.text.text;
    case "array":
      return `[${ws}${node.items.map((item) => render(item, ws)).join(`${ws},${ws}`)}${ws}]`;
    case "object":
      return `{${ws}${node.entries
        .map(([key, value]) => `${key.text}${ws}:${ws}${render(value, ws)}`)
        .join(`${ws},${ws}`)}${ws}}`;
  }
}

function depthOf(node: Node): number {
  switch (node.kind) {
    case "scalar":
    case "string":
      return 0;
    case "array":
      return 1 + Math.max(0, ...node.items.map(depthOf));
    case "object":
      return 1 + Math.max(0, ...node.entries.map(([, value]) => depthOf(value)));
  }
}

function hasDuplicateKey(node: Node): boolean {
  switch (node.kind) {
    case "scalar":
    case "string":
      return false;
    case "array":
      return node.items.some(hasDuplicateKey);
    case "object": {
      const keys = node.entries.map(([key]) => key.decoded);
      return new Set(keys).size !== keys.length || node.entries.some(([, v]) => hasDuplicateKey(v));
    }
  }
}

/** The value a duplicate-free tree denotes (built without JSON.parse). */
function valueOf(node: Node): unknown {
  switch (node.kind) {
    case "scalar":
      return node.value;
    case "string":
      return node.text.decoded;
    case "array":
      return node.items.map(valueOf);
    case "object": {
      const result: Record<string, unknown> = {};
      for (const [key, value] of node.entries) {
        Object.defineProperty(result, key.decoded, {
          value: valueOf(value),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return result;
    }
  }
}

function outcome(text: string, maxDepth: number): string {
  const result = parseStrictJson(text, maxDepth);
  return result.ok ? "ok" : result.error;
}

describe("strict JSON reader (properties)", () => {
  it("reads any JSON.stringify output exactly as JSON.parse does", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.constantFrom(undefined, 2), (value, indent) => {
        const text = JSON.stringify(value, null, indent);
        const result = parseStrictJson(text, 64);
        expect(result).toEqual({ ok: true, value: JSON.parse(text) });
      }),
      { numRuns: 300 },
    );
  });

  it("refuses exactly the texts whose objects repeat a key, and reads the others to the model value", () => {
    fc.assert(
      fc.property(nodeArb, WHITESPACE, (node, ws) => {
        const text = render(node, ws);
        const result = parseStrictJson(text, depthOf(node));
        if (hasDuplicateKey(node)) {
          expect(result).toEqual({ ok: false, error: "duplicate_key" });
        } else {
          expect(result).toEqual({ ok: true, value: valueOf(node) });
        }
      }),
      { numRuns: 500 },
    );
  });

  it("refuses nesting one level above the limit and accepts it at the limit", () => {
    fc.assert(
      fc.property(
        nodeArb.filter((node) => depthOf(node) > 0 && !hasDuplicateKey(node)),
        WHITESPACE,
        (node, ws) => {
          const text = render(node, ws);
          const depth = depthOf(node);
          expect(outcome(text, depth)).toBe("ok");
          expect(outcome(text, depth - 1)).toBe("too_deep");
        },
      ),
      { numRuns: 300 },
    );
  });

  it("never accepts a text whose depth or keys break the rules, whichever limit it meets first", () => {
    fc.assert(
      fc.property(nodeArb, WHITESPACE, fc.nat(6), (node, ws, maxDepth) => {
        const text = render(node, ws);
        const expectedOk = !hasDuplicateKey(node) && depthOf(node) <= maxDepth;
        const got = outcome(text, maxDepth);
        if (expectedOk) expect(got).toBe("ok");
        else expect(["too_deep", "duplicate_key"]).toContain(got);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses deep hostile nesting of mixed brackets against the default limit", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("[", '{"k":'), { minLength: 1, maxLength: 300 }),
        (opens) => {
          const closes = opens.map((open) => (open === "[" ? "]" : "}")).reverse();
          const text = `${opens.join("")}0${closes.join("")}`;
          expect(outcome(text, 64)).toBe(opens.length > 64 ? "too_deep" : "ok");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("answers any string with a result, never an exception, and parse_error exactly when JSON.parse fails", () => {
    const mutated = fc
      .tuple(nodeArb, WHITESPACE, fc.nat(), fc.string({ unit: "binary", maxLength: 3 }), fc.nat(3))
      .map(([node, ws, at, insert, drop]) => {
        const text = render(node, ws);
        const cut = at % (text.length + 1);
        return text.slice(0, cut) + insert + text.slice(cut + drop);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json(), mutated), (text) => {
        let parsed: { ok: true; value: unknown } | { ok: false };
        try {
          parsed = { ok: true, value: JSON.parse(text) };
        } catch {
          parsed = { ok: false };
        }
        const result = parseStrictJson(text, 64);
        if (!parsed.ok) {
          expect(result).toEqual({ ok: false, error: "parse_error" });
        } else if (result.ok) {
          expect(result.value).toEqual(parsed.value);
        } else {
          expect(["too_deep", "duplicate_key"]).toContain(result.error);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
