import { describe, expect, it } from "vitest";
import { hasTokenInQuery } from "../src/policy/route.ts";

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
