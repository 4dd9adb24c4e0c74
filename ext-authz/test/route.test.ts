import { describe, expect, it } from "vitest";
import { adminMethods, hasTokenInQuery, resolveRoute } from "../src/policy/route.ts";

/**
 * Edges of the access_token check found by mutation testing (the path → route table itself is in
 * decide.test.ts): only a real query counts, however the path before it looks.
 */
describe("access_token in the query", () => {
  it.each([
    // No "?": an "&access_token=" inside the path is not a query parameter.
    ["/calculator/mcp&access_token=t", false],
    ["/calculator/mcp/access_token=t", false],
    ["access_token=t", false],
    // A "?" right after the first character still starts the query.
    ["/?access_token=t", true],
    ["/?x=1", false],
    // Only the first "?" starts the query; what follows a "#" is the fragment.
    ["/calculator/mcp?x=?&access_token=t", true],
    ["/calculator/mcp?#?access_token=t", false],
  ] as const)("%s: %s", (path, expected) => {
    expect(hasTokenInQuery(path)).toBe(expected);
  });
});

describe("routes found by mutation testing", () => {
  const known = (scope: string) => scope === "calculator";

  it("serves the operator console page and its assets without a scope", () => {
    for (const path of ["/console", "/console/", "/console/app.js", "/console?x=1"]) {
      expect(resolveRoute(path, undefined, known)).toEqual({ kind: "console" });
    }
    // Only the console's own path, not one that merely ends or begins like it.
    expect(resolveRoute("/consoles", undefined, known)).not.toEqual({ kind: "console" });
    expect(resolveRoute("/calculator/console/", undefined, known)).not.toEqual({ kind: "console" });
  });

  it("accepts POST only on the tool approval actions, nothing on paths that are no admin route", () => {
    expect(adminMethods("/admin/tools/calculator/exact_calculate/approve")).toEqual(["POST"]);
    expect(adminMethods("/admin/tools/calculator/exact_calculate/keep?x=1")).toEqual(["POST"]);
    expect(adminMethods("/admin/tools/calculator/exact_calculate/delete")).toEqual([]);
    expect(adminMethods("/admin/audit")).toEqual(["GET"]);
    expect(adminMethods("/admin/nothing")).toEqual([]);
  });
});
