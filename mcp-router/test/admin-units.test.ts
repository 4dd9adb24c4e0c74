import { describe, expect, it } from "vitest";
import { parseAdminQuery } from "../src/admin-access.ts";
import { createDefinitionArchive, definitionLines, diffLines } from "../src/admin-definitions.ts";
import { bucketQuantile, trafficFrom } from "../src/admin-overview.ts";
import type { Backends } from "../src/upstream/backends.ts";

/** The pure parts of the operators' API: diff, quantiles, traffic series, query parsing. */

describe("diffLines", () => {
  it("keeps common lines and marks removed and added ones in order", () => {
    expect(diffLines(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"])).toEqual([
      { op: "=", text: "a" },
      { op: "-", text: "b" },
      { op: "+", text: "x" },
      { op: "=", text: "c" },
      { op: "=", text: "d" },
      { op: "+", text: "e" },
    ]);
    expect(diffLines([], [])).toEqual([]);
    expect(diffLines(["a"], [])).toEqual([{ op: "-", text: "a" }]);
  });

  it("turns one into the other, whatever the input", () => {
    const lines = (seed: number) =>
      Array.from({ length: 30 }, (_, i) => String.fromCharCode(97 + ((i * seed) % 5)));
    for (let seed = 1; seed < 12; seed++) {
      const before = lines(seed);
      const after = lines(seed + 3).slice(seed);
      const diff = diffLines(before, after);
      expect(diff.filter((l) => l.op !== "+").map((l) => l.text)).toEqual(before);
      expect(diff.filter((l) => l.op !== "-").map((l) => l.text)).toEqual(after);
    }
  });

  it("compares definitions by sorted keys, so key order is no change", () => {
    const a = definitionLines({ name: "add", inputSchema: { type: "object" }, description: "x" });
    const b = definitionLines({ description: "x", inputSchema: { type: "object" }, name: "add" });
    expect(diffLines(a, b).every((line) => line.op === "=")).toBe(true);
  });
});

describe("the definition archive", () => {
  it("records the catalog's listings only, by scope, tool and digest", async () => {
    const archive = createDefinitionArchive();
    const definition = { name: "add", description: "Adds", inputSchema: { type: "object" } };
    const listed = { kind: "result", result: { tools: [definition, { name: "broken" }] } };
    const backends = {
      call: async () => listed,
      retain: async () => undefined,
      close: async () => undefined,
    } as unknown as Backends;
    const tapped = archive.tap(backends);
    const scopeConfig = {} as Parameters<Backends["call"]>[1];
    await tapped.call("calc", scopeConfig, { method: "tools/list", forCatalog: true } as never);
    await tapped.call("other", scopeConfig, { method: "tools/list" } as never);
    const { digestJson } = await import("../../contract/src/digest.ts");
    expect(archive.get("calc", "add", digestJson(definition))).toEqual(definition);
    expect(archive.get("other", "add", digestJson(definition))).toBeUndefined();
    // Every other member of the backends passes through as it is.
    expect(Object.keys(tapped).sort()).toEqual(Object.keys(backends).sort());
  });
});

describe("bucketQuantile", () => {
  const buckets = (entries: [number, number][]) => new Map(entries);
  it("interpolates within the bucket holding the rank, in ms", () => {
    // 10 calls: 4 under 10 ms, 6 more under 100 ms.
    const counts = buckets([
      [0.01, 4],
      [0.1, 10],
      [Infinity, 10],
    ]);
    expect(bucketQuantile(counts, 0.5)).toBe(25);
    expect(bucketQuantile(counts, 0.2)).toBe(5);
    expect(bucketQuantile(counts, 0.99)).toBe(98.5);
  });

  it("answers the last finite bound for the open bucket, and null without calls", () => {
    expect(
      bucketQuantile(
        buckets([
          [0.5, 0],
          [Infinity, 3],
        ]),
        0.5,
      ),
    ).toBe(500);
    expect(
      bucketQuantile(
        buckets([
          [0.5, 0],
          [Infinity, 0],
        ]),
        0.5,
      ),
    ).toBeNull();
  });
});

describe("trafficFrom", () => {
  it("turns cumulative samples into rates per interval", () => {
    const sample = (at: number, count: number, errors: number, refusals: number) => ({
      at,
      http: { count, errors, refusals },
      scopes: new Map([
        [
          "calc",
          {
            count,
            errors,
            refusals,
            backendFailures: errors,
            buckets: new Map([
              [0.1, count],
              [Infinity, count],
            ]),
          },
        ],
      ]),
    });
    const traffic = trafficFrom([
      sample(0, 0, 0, 0),
      sample(10_000, 20, 2, 1),
      sample(20_000, 20, 2, 1),
    ]);
    expect(traffic.times).toEqual(["1970-01-01T00:00:10.000Z", "1970-01-01T00:00:20.000Z"]);
    expect(traffic.requests.per_second).toEqual([2, 0]);
    expect(traffic.requests.error_rate).toEqual([0.1, null]);
    expect(traffic.requests.refusal_rate).toEqual([0.05, null]);
    expect(traffic.requests.totals).toEqual({ count: 20, errors: 2, refusals: 1 });
    expect(traffic.scopes[0]).toMatchObject({ scope: "calc", p50_ms: [50, null] });
    expect(traffic.backendFailures.get("calc")).toBe(2);
  });
});

describe("parseAdminQuery", () => {
  it("takes each known parameter once and nothing else", () => {
    expect(parseAdminQuery("/admin/audit?user=a&limit=5", ["user", "limit"])).toEqual({
      ok: true,
      query: { user: "a", limit: "5" },
    });
    expect(parseAdminQuery("/admin/tools?x=1", [])).toEqual({
      ok: false,
      detail: 'unknown parameter "x": this endpoint takes none',
    });
    expect(parseAdminQuery("/admin/audit?user=a&user=b", ["user"])).toMatchObject({ ok: false });
  });
});
