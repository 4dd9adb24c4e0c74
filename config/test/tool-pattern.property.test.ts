import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  compileToolPattern,
  globMatches,
  parseQualifiedToolName,
  parseToolPattern,
  type ToolPattern,
} from "../src/tool-pattern.ts";

/**
 * Properties of policy patterns (docs/configuration.md): `*` matches everything, `<scope>.*` a
 * whole scope, `<scope>.<tool>` one tool; the scope ends at the first dot (tool names may hold
 * dots), and `*` is a wildcard only as the whole pattern or as the whole tool part.
 */

const scopeArb = fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/);
const toolArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_.-]{1,128}$/),
  // Short names from a tiny alphabet, so near-misses (prefixes, dots, case) come up often.
  fc.stringMatching(/^[aA._-]{1,4}$/),
);

function render(pattern: ToolPattern): string {
  switch (pattern.kind) {
    case "all":
      return "*";
    case "scope":
      return `${pattern.scope}.*`;
    case "tool":
      return `${pattern.scope}.${pattern.tool}`;
    case "item":
      return `${pattern.scope}.${pattern.item}:${pattern.glob}`;
  }
}

describe("item globs (properties)", () => {
  const textArb = fc.stringMatching(/^[ab/:*]{0,12}$/);
  /** The same question answered by a regular expression built from the glob. */
  const byRegExp = (glob: string, text: string) =>
    new RegExp(
      `^${glob
        .split("*")
        .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&"))
        .join("[\\s\\S]*")}$`,
    ).test(text);

  it("agree with the equivalent regular expression", () => {
    fc.assert(
      fc.property(textArb, textArb, (glob, text) => {
        expect(globMatches(glob, text)).toBe(byRegExp(glob, text));
      }),
      { numRuns: 2000 },
    );
  });

  it("match every text with a lone star, and a literal only itself", () => {
    fc.assert(
      fc.property(textArb, textArb, (literal, text) => {
        fc.pre(!literal.includes("*"));
        expect(globMatches("*", text)).toBe(true);
        expect(globMatches(literal, text)).toBe(literal === text);
      }),
    );
  });
});

describe("tool patterns (properties)", () => {
  it("matches a tool with *, its scope's wildcard and its exact name", () => {
    fc.assert(
      fc.property(scopeArb, toolArb, (scope, tool) => {
        expect(compileToolPattern("*")(scope, tool)).toBe(true);
        expect(compileToolPattern(`${scope}.*`)(scope, tool)).toBe(true);
        expect(compileToolPattern(`${scope}.${tool}`)(scope, tool)).toBe(true);
        expect(parseToolPattern(`${scope}.${tool}`)).toEqual({ kind: "tool", scope, tool });
        expect(parseQualifiedToolName(`${scope}.${tool}`)).toEqual({ scope, tool });
      }),
      { numRuns: 500 },
    );
  });

  it("never matches a tool of another scope, whatever the names share", () => {
    fc.assert(
      fc.property(scopeArb, scopeArb, toolArb, toolArb, (scope, other, tool, otherTool) => {
        fc.pre(scope !== other);
        for (const name of [tool, otherTool]) {
          expect(compileToolPattern(`${other}.*`)(scope, name)).toBe(false);
          expect(compileToolPattern(`${other}.${name}`)(scope, name)).toBe(false);
          // The qualified name as a tool name of another scope does not match either.
          const nested = `${other}.${scope}.${name}`;
          if (parseToolPattern(nested) !== undefined) {
            expect(compileToolPattern(nested)(scope, name)).toBe(false);
            expect(compileToolPattern(nested)(other, name)).toBe(false);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it("matches an exact pattern for that one tool only", () => {
    fc.assert(
      fc.property(scopeArb, toolArb, toolArb, (scope, tool, otherTool) => {
        fc.pre(tool !== otherTool);
        expect(compileToolPattern(`${scope}.${tool}`)(scope, otherTool)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it("parses any string to a pattern that renders back to it, or refuses it, never throwing", () => {
    const near = fc
      .array(fc.constantFrom("a", "b", "Z", "0", ".", "*", "-", "_", " ", "é", "/"), {
        maxLength: 8,
      })
      .map((pieces) => pieces.join(""));
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), near), (text) => {
        const parsed = parseToolPattern(text);
        if (parsed === undefined) {
          expect(() => compileToolPattern(text)).toThrow(/invalid tool pattern/);
        } else {
          expect(render(parsed)).toBe(text);
          expect(typeof compileToolPattern(text)).toBe("function");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("treats * as a wildcard only as the whole pattern or the whole tool part", () => {
    const withStar = fc
      .tuple(fc.string({ unit: "grapheme-ascii", maxLength: 6 }), fc.string({ maxLength: 6 }))
      .map(([before, after]) => `${before}*${after}`);
    fc.assert(
      fc.property(withStar, (text) => {
        const parsed = parseToolPattern(text);
        if (text === "*") expect(parsed).toEqual({ kind: "all" });
        else if (parsed !== undefined) {
          expect(parsed.kind).toBe("scope");
          expect(text).toBe(`${parsed.kind === "scope" ? parsed.scope : ""}.*`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("matches case-sensitively: another spelling of a scope or tool is another name", () => {
    fc.assert(
      fc.property(
        scopeArb,
        toolArb.filter((tool) => tool.toUpperCase() !== tool),
        (scope, tool) => {
          expect(compileToolPattern(`${scope}.${tool}`)(scope, tool.toUpperCase())).toBe(false);
          expect(parseToolPattern(`${scope.toUpperCase()}.*`)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});
