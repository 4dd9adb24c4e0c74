import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

/** The dependency direction of DESIGN.md, checked on every relative import of every source file. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const ALLOWED: Record<string, readonly string[]> = {
  contract: ["contract"],
  config: ["config", "contract"],
  migrations: ["migrations"],
  store: ["store", "contract", "config", "migrations"],
  "ext-authz": ["ext-authz", "contract", "config", "store"],
  "mcp-router": ["mcp-router", "contract", "config", "store"],
  "tools/kit": ["tools/kit", "contract"],
};

function componentOf(file: string): string | undefined {
  const path = relative(root, file).split("\\").join("/");
  const [first, second] = path.split("/");
  if (first === "tools" && second !== undefined) return `tools/${second}`;
  return first;
}

function allowedFor(component: string): readonly string[] | undefined {
  if (component.startsWith("tools/") && component !== "tools/kit") {
    return [component, "tools/kit", "contract"];
  }
  return ALLOWED[component];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      return ["node_modules", "data", "coverage", "dist", ".git"].includes(entry.name)
        ? []
        : sourceFiles(path);
    }
    return /\.(ts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

function relativeImports(source: string): string[] {
  const pattern = /(?:from\s+|import\s*\(\s*|import\s+)["'](\.{1,2}\/[^"']+)["']/g;
  return [...source.matchAll(pattern)].map((m) => m[1] as string);
}

describe("dependency direction", () => {
  it("services depend only on contract/config/store; tools only on contract and tools/kit", () => {
    const violations: string[] = [];
    for (const file of sourceFiles(root)) {
      const from = componentOf(file);
      if (from === undefined) continue;
      const allowed = allowedFor(from);
      if (allowed === undefined) continue; // dev/, scripts/, bench/, test/ wire components together
      for (const specifier of relativeImports(readFileSync(file, "utf8"))) {
        const to = componentOf(resolve(dirname(file), specifier));
        if (to !== undefined && !allowed.includes(to)) {
          violations.push(`${relative(root, file)} imports ${specifier} (${from} → ${to})`);
        }
      }
    }
    expect(violations).toEqual([]);
  });

  it("detects a forbidden import", () => {
    const imports = relativeImports('import { x } from "../../ext-authz/src/main.ts";');
    const to = componentOf(resolve(root, "mcp-router/src", imports[0]!));
    expect(to).toBe("ext-authz");
    expect(allowedFor("mcp-router")).not.toContain(to);
    expect(allowedFor("tools/git")).toEqual(["tools/git", "tools/kit", "contract"]);
  });
});

/** The relative-import graph of the given source files (type-only imports couple modules too). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const targets = relativeImports(readFileSync(file, "utf8"))
      .map((specifier) => resolve(dirname(file), specifier))
      .filter((target) => files.includes(target));
    graph.set(
      relative(root, file),
      targets.map((target) => relative(root, target)),
    );
  }
  return graph;
}

/** Each cycle found by a depth-first walk, as the path from the node it returns to. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[] {
  const cycles: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, "visiting");
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "visiting") {
        cycles.push([...stack.slice(stack.indexOf(next)), next].join(" → "));
      } else if (state.get(next) === undefined) {
        visit(next);
      }
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...graph.keys()].sort()) if (state.get(node) === undefined) visit(node);
  return cycles;
}

describe("import cycles", () => {
  it("no source file reaches itself through its imports", () => {
    const files = sourceFiles(root).filter((file) => !/[\\/]test[\\/]/.test(relative(root, file)));
    expect(findCycles(importGraph(files))).toEqual([]);
  });

  it("finds direct and longer cycles, and none in a tree", () => {
    const graph = new Map([
      ["a", ["b"]],
      ["b", ["c", "a"]],
      ["c", ["d"]],
      ["d", ["b"]],
      ["e", ["a"]],
    ]);
    expect(findCycles(graph).sort()).toEqual(["a → b → a", "b → c → d → b"]);
    expect(
      findCycles(
        new Map([
          ["a", ["b", "c"]],
          ["b", ["c"]],
          ["c", []],
        ]),
      ),
    ).toEqual([]);
  });
});
