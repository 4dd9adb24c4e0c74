import { LRUCache } from "lru-cache";
import { canonicalJson, digestJson } from "../../contract/src/digest.ts";
import type { DiffLine } from "./admin-wire.ts";
import type { Backends } from "./upstream/backends.ts";

/**
 * The tool definitions this router's catalog has listed, by scope, tool and digest, so the
 * console can show what changed between the approved definition and the one a backend serves
 * now. The registry keeps only digests; the texts are held here, in memory: a definition seen
 * before this process started (the approved one, typically) has no text here, and the console
 * says so.
 *
 * The archive reads the catalog's own tools/list answers (`tap`), so it costs no request to a
 * backend and sees exactly the definitions the catalog digested.
 */
export type DefinitionArchive = {
  /** Backends whose catalog listings are recorded. */
  tap(backends: Backends): Backends;
  record(scope: string, definitions: readonly unknown[]): void;
  get(scope: string, tool: string, digest: string): Record<string, unknown> | undefined;
};

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export function createDefinitionArchive(options: { max?: number } = {}): DefinitionArchive {
  const definitions = new LRUCache<string, Record<string, unknown>>({ max: options.max ?? 5_000 });
  const keyOf = (scope: string, tool: string, digest: string) =>
    `${scope}\u0000${tool}\u0000${digest}`;

  function record(scope: string, listed: readonly unknown[]): void {
    for (const definition of listed) {
      // The catalog's own test of a definition (tool-catalog.ts), and its digest.
      if (!isRecord(definition) || typeof definition.name !== "string") continue;
      if (!isRecord(definition.inputSchema)) continue;
      definitions.set(keyOf(scope, definition.name, digestJson(definition)), definition);
    }
  }

  return {
    record,
    get: (scope, tool, digest) => definitions.get(keyOf(scope, tool, digest)),
    tap(backends) {
      // Everything else of the backends as it is (spread: whatever members they have).
      return {
        ...backends,
        async call(scope, scopeConfig, call) {
          const outcome = await backends.call(scope, scopeConfig, call);
          if (
            call.forCatalog === true &&
            call.method === "tools/list" &&
            outcome.kind === "result" &&
            Array.isArray(outcome.result.tools)
          ) {
            record(scope, outcome.result.tools as unknown[]);
          }
          return outcome;
        },
      };
    },
  };
}

/** A definition as the lines the diff compares: sorted keys, two-space indent. */
export function definitionLines(definition: unknown): string[] {
  return JSON.stringify(JSON.parse(canonicalJson(definition)), null, 2).split("\n");
}

/** Beyond this many cells the LCS table is not built: the diff is "all removed, all added". */
const MAX_DIFF_CELLS = 4_000_000;

/**
 * Line diff (longest common subsequence): the fewest removed and added lines turning `before`
 * into `after`, in order. Definitions are short (tens to hundreds of lines), so the table stays
 * small; a pathological size falls back to replacing everything.
 */
export function diffLines(before: readonly string[], after: readonly string[]): DiffLine[] {
  let start = 0;
  while (start < before.length && start < after.length && before[start] === after[start]) start++;
  let endBefore = before.length;
  let endAfter = after.length;
  while (endBefore > start && endAfter > start && before[endBefore - 1] === after[endAfter - 1]) {
    endBefore--;
    endAfter--;
  }
  const head = before.slice(0, start).map((text): DiffLine => ({ op: "=", text }));
  const tail = before.slice(endBefore).map((text): DiffLine => ({ op: "=", text }));
  const a = before.slice(start, endBefore);
  const b = after.slice(start, endAfter);
  const n = a.length;
  const m = b.length;
  if (n * m > MAX_DIFF_CELLS) {
    return [
      ...head,
      ...a.map((text): DiffLine => ({ op: "-", text })),
      ...b.map((text): DiffLine => ({ op: "+", text })),
      ...tail,
    ];
  }
  // lengths[i][j]: LCS of a[i..] and b[j..], one flat array.
  const width = m + 1;
  const lengths = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[i] === b[j]
          ? lengths[(i + 1) * width + j + 1]! + 1
          : Math.max(lengths[(i + 1) * width + j]!, lengths[i * width + j + 1]!);
    }
  }
  const middle: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      middle.push({ op: "=", text: a[i]! });
      i++;
      j++;
    } else if (lengths[(i + 1) * width + j]! >= lengths[i * width + j + 1]!) {
      middle.push({ op: "-", text: a[i]! });
      i++;
    } else {
      middle.push({ op: "+", text: b[j]! });
      j++;
    }
  }
  while (i < n) middle.push({ op: "-", text: a[i++]! });
  while (j < m) middle.push({ op: "+", text: b[j++]! });
  return [...head, ...middle, ...tail];
}
