/**
 * JSON with the ambiguities removed. Duplicate object keys are refused because parsers disagree
 * on which copy wins (a body could name one tool to the authorizer and another to the router);
 * nesting is bounded so a hostile body cannot make any later consumer recurse without limit.
 */

export type StrictJsonResult =
  { ok: true; value: unknown } | { ok: false; error: "parse_error" | "too_deep" | "duplicate_key" };

export function parseStrictJson(text: string, maxDepth: number): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: "parse_error" };
  }
  const structure = scanStructure(text, maxDepth);
  return structure === "ok" ? { ok: true, value } : { ok: false, error: structure };
}

type Frame = { keys: Set<string>; expectKey: boolean } | null;

/** Walks text already known to be valid JSON, tracking depth and the keys of each open object. */
function scanStructure(text: string, maxDepth: number): "ok" | "too_deep" | "duplicate_key" {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      let j = i + 1;
      let escaped = false;
      while (j < text.length && text.charCodeAt(j) !== 0x22) {
        if (text.charCodeAt(j) === 0x5c /* \ */) {
          escaped = true;
          j += 2;
        } else {
          j += 1;
        }
      }
      const top = stack[stack.length - 1];
      if (top && top.expectKey) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (top.keys.has(key)) return "duplicate_key";
        top.keys.add(key);
        top.expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (stack.length + 1 > maxDepth) return "too_deep";
      stack.push(ch === 0x7b ? { keys: new Set(), expectKey: true } : null);
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      stack.pop();
    } else if (ch === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top) top.expectKey = true;
    }
    i += 1;
  }
  return "ok";
}
