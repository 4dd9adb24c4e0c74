import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkParamHeaders,
  paramHeaderBindings,
  paramHeaderValues,
} from "../src/mcp-param-headers.ts";
import { encodeHeaderValue } from "../src/mcp-wire.ts";

const schema = {
  type: "object",
  properties: {
    region: { type: "string", "x-mcp-header": "Region" },
    replicas: { type: "integer", "x-mcp-header": "Replicas" },
    ratio: { type: "number", "x-mcp-header": "Ratio" },
    dryRun: { type: "boolean", "x-mcp-header": "Dry-Run" },
    target: {
      type: "object",
      properties: { zone: { type: "string", "x-mcp-header": "Zone" } },
    },
    note: { type: "string" },
  },
};
const bindings = paramHeaderBindings(schema);

describe("paramHeaderBindings", () => {
  it("finds primitive annotations reachable through properties, nested ones included", () => {
    expect(bindings).toEqual([
      { name: "Region", path: ["region"] },
      { name: "Replicas", path: ["replicas"] },
      { name: "Ratio", path: ["ratio"] },
      { name: "Dry-Run", path: ["dryRun"] },
      { name: "Zone", path: ["target", "zone"] },
    ]);
  });

  it("binds nothing for annotations the specification makes invalid", () => {
    expect(
      paramHeaderBindings({
        type: "object",
        properties: {
          spaced: { type: "string", "x-mcp-header": "Has Space" },
          empty: { type: "string", "x-mcp-header": "" },
          object: { type: "object", "x-mcp-header": "Obj" },
          untyped: { "x-mcp-header": "Untyped" },
          notString: { type: "string", "x-mcp-header": 7 },
          list: { type: "array", items: { type: "string", "x-mcp-header": "Item" } },
          oneOf: { oneOf: [{ type: "string", "x-mcp-header": "Choice" }] },
          // The same name twice, whatever the case: neither is enforced.
          first: { type: "string", "x-mcp-header": "Twice" },
          second: { type: "string", "x-mcp-header": "TWICE" },
        },
      }),
    ).toEqual([]);
  });

  it("accepts anything as a schema without throwing", () => {
    for (const value of [undefined, null, 1, "x", [], { properties: [] }, { properties: null }]) {
      expect(paramHeaderBindings(value)).toEqual([]);
    }
  });

  it("stops at a bounded depth on a deeply nested schema", () => {
    let deep: Record<string, unknown> = { type: "string", "x-mcp-header": "Deep" };
    for (let level = 0; level < 50; level += 1) deep = { type: "object", properties: { a: deep } };
    expect(paramHeaderBindings(deep)).toEqual([]);
  });
});

describe("checkParamHeaders", () => {
  const headersFor = (values: Record<string, string>) =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [`mcp-param-${k.toLowerCase()}`, v]));

  it("accepts headers that mirror the body, numbers compared as numbers", () => {
    const args = {
      region: "eu-west-1",
      replicas: 3,
      ratio: 0.5,
      dryRun: false,
      target: { zone: "b" },
    };
    expect(
      checkParamHeaders(
        bindings,
        args,
        headersFor({
          Region: "  eu-west-1 ",
          Replicas: "3.0",
          Ratio: "5e-1",
          "Dry-Run": "false",
          Zone: "b",
        }),
      ),
    ).toBeUndefined();
  });

  it("decodes the base64 sentinel and treats an incomplete one as literal text", () => {
    expect(
      checkParamHeaders(
        bindings,
        { region: "Hello" },
        headersFor({ Region: "=?base64?SGVsbG8=?=" }),
      ),
    ).toBeUndefined();
    expect(
      checkParamHeaders(
        bindings,
        { region: "=?base64?SGVsbG8=" },
        headersFor({ Region: "=?base64?SGVsbG8=" }),
      ),
    ).toBeUndefined();
    expect(
      checkParamHeaders(bindings, { region: "SGVsbG8=" }, headersFor({ Region: "SGVsbG8=" })),
    ).toBeUndefined();
  });

  it("refuses bad base64, a missing header, a stray header and any disagreement", () => {
    const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
      [{ region: "Hello" }, { Region: "=?base64?SGVsbG8?=" }, /invalid base64/],
      [{ region: "Hello" }, { Region: "=?base64?SGVs!!!bG8=?=" }, /invalid base64/],
      [{ region: "eu" }, {}, /Mcp-Param-Region header is required: arguments.region is set/],
      [{}, { Region: "eu" }, /Mcp-Param-Region header is sent but arguments.region is absent/],
      [{ region: null }, { Region: "null" }, /is sent but/],
      [
        { region: "eu" },
        { Region: "us" },
        /Mcp-Param-Region header does not match arguments.region/,
      ],
      [{ region: "eu" }, { Region: "EU" }, /does not match/],
      [{ replicas: 3 }, { Replicas: "three" }, /does not match arguments.replicas/],
      [{ replicas: 3 }, { Replicas: "0x3" }, /does not match/],
      [{ replicas: 3 }, { Replicas: "" }, /does not match/],
      [{ dryRun: true }, { "Dry-Run": "1" }, /does not match arguments.dryRun/],
      [{ region: { nested: 1 } }, { Region: "[object Object]" }, /does not match/],
      [{ target: { zone: "a" } }, {}, /Mcp-Param-Zone header is required: arguments.target.zone/],
      // Two headers of one name arrive joined and match no single value.
      [{ region: "eu" }, { Region: "eu, us" }, /does not match/],
    ];
    for (const [args, headers, detail] of cases) {
      expect(checkParamHeaders(bindings, args, headersFor(headers))).toMatch(detail);
    }
  });

  it("expects no header for an argument that is absent or null", () => {
    expect(checkParamHeaders(bindings, {}, {})).toBeUndefined();
    expect(checkParamHeaders(bindings, { region: null, target: null }, {})).toBeUndefined();
    expect(checkParamHeaders(bindings, undefined, {})).toBeUndefined();
  });

  it("accepts the header a client encodes for any string, and refuses it for any other string", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme" }),
        fc.string({ unit: "grapheme" }),
        (value, other) => {
          const sent = headersFor({ Region: encodeHeaderValue(value) });
          expect(checkParamHeaders(bindings, { region: value }, sent)).toBeUndefined();
          if (other !== value) {
            expect(checkParamHeaders(bindings, { region: other }, sent)).toMatch(/does not match/);
          }
        },
      ),
    );
  });
});

describe("paramHeaderValues", () => {
  const bindings = paramHeaderBindings({
    type: "object",
    properties: {
      region: { type: "string", "x-mcp-header": "Region" },
      count: { type: "integer", "x-mcp-header": "Count" },
      flag: { type: "boolean", "x-mcp-header": "Flag" },
      nested: {
        type: "object",
        properties: { zone: { type: "string", "x-mcp-header": "Zone" } },
      },
    },
  });

  it("writes each bound argument that is there, encoded where it must be", () => {
    expect(
      paramHeaderValues(bindings, { region: "Zürich", count: 3, flag: false, nested: {} }),
    ).toEqual({
      "mcp-param-region": encodeHeaderValue("Zürich"),
      "mcp-param-count": "3",
      "mcp-param-flag": "false",
    });
    expect(paramHeaderValues(bindings, { region: null, nested: { zone: "a" } })).toEqual({
      "mcp-param-zone": "a",
    });
    expect(paramHeaderValues(bindings, "not an object")).toEqual({});
  });

  it("writes what checkParamHeaders accepts, for any argument values", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme" }),
        fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.boolean(),
        (region, count, flag) => {
          const args = { region, count, flag, nested: { zone: region } };
          expect(checkParamHeaders(bindings, args, paramHeaderValues(bindings, args))).toBe(
            undefined,
          );
        },
      ),
    );
  });
});
