import { readFileSync } from "node:fs";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkRoutingHeaders,
  encodeHeaderValue,
  eraOf,
  MCP_NAME_SOURCE,
  META_KEY,
  readMessage,
  SESSION_PROTOCOL_VERSIONS,
  STATELESS_PROTOCOL_VERSIONS,
} from "../../contract/src/mcp-wire.ts";

/**
 * The bridge keeps its own copy of the 2026-07-28 routing rules (it runs standalone and cannot
 * import the contract). Its process-level test drives a table of values through the real bridge;
 * these properties compare the copied functions themselves with the contract on generated input:
 * the same header encoding for every string, the same era for every message, and routing headers
 * the contract's check (ext-authz and router alike) accepts.
 */

type BridgeRules = {
  encodeHeaderValue: (value: string) => string;
  statelessVersionOf: (message: Record<string, unknown>) => string | undefined;
  routingHeaders: (message: Record<string, unknown>, version: string) => Record<string, string>;
};

function loadBridgeRules(): BridgeRules {
  const source = readFileSync(new URL("../mcp_http_bridge.js", import.meta.url), "utf8");
  const start = source.indexOf(
    "// ---------------------------------------------------------------- the stateless revision",
  );
  const end = source.indexOf("function isJsonRpcMessage(");
  if (start < 0 || end < start) throw new Error("the bridge's stateless section was not found");
  return runInNewContext(
    `${source.slice(start, end)}\n({ encodeHeaderValue, statelessVersionOf, routingHeaders });`,
    { Buffer },
  ) as BridgeRules;
}

const bridge = loadBridgeRules();

const VISIBLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
/** An HTTP field value: visible ASCII, inner spaces and tabs, no edge blanks. */
const FIELD_VALUE = /^[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?$/;

/** Methods an HTTP header can carry: the table, lookalikes, prototype names, anything visible. */
const methodArb = fc.oneof(
  fc.constantFrom(
    ...Object.keys(MCP_NAME_SOURCE),
    "tools/list",
    "tasks/result",
    "ping",
    "initialize",
    "constructor",
    "__proto__",
    "hasOwnProperty",
  ),
  fc.stringMatching(VISIBLE).filter((method) => method.length <= 256),
);

const versionArb = fc.oneof(
  fc.constantFrom(...STATELESS_PROTOCOL_VERSIONS, ...SESSION_PROTOCOL_VERSIONS, "2099-01-01"),
  fc.stringMatching(/^[0-9a-z-]{1,12}$/),
);

const valueArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 20 }),
  fc.string({ unit: "binary", maxLength: 20 }),
  fc.constantFrom("", " ", "=?base64?Zm9v?=", "a\tb", "x "),
  fc.jsonValue({ maxDepth: 1 }),
);

function messageWith(versions: fc.Arbitrary<string | undefined>) {
  return fc
    .record({
      id: fc.option(fc.oneof(fc.integer(), fc.string({ maxLength: 8 })), { nil: undefined }),
      method: methodArb,
      version: versions,
      value: fc.option(valueArb, { nil: undefined }),
      field: fc.constantFrom("name", "uri", "taskId"),
    })
    .map(({ id, method, version, value, field }) => {
      const params: Record<string, unknown> = {};
      if (value !== undefined) params[field] = value;
      if (version !== undefined) {
        params._meta = { [META_KEY.protocolVersion]: version, [META_KEY.clientCapabilities]: {} };
      }
      return { jsonrpc: "2.0", ...(id === undefined ? {} : { id }), method, params };
    });
}

const messageArb = messageWith(fc.option(versionArb, { nil: undefined }));
/** Claiming the revision the gateway speaks: an unsupported one skips the header check. */
const supportedStatelessArb = messageWith(fc.constantFrom(...STATELESS_PROTOCOL_VERSIONS));

describe("the bridge's copy of the routing rules (properties)", () => {
  it("encodes every string exactly as the contract does", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.string({ unit: "grapheme" }),
          fc.string({ unit: "grapheme-ascii" }).map((s) => `=?base64?${s}?=`),
          fc.stringMatching(/^[\t \x21-\x7e]{0,12}$/),
        ),
        (value) => {
          expect(bridge.encodeHeaderValue(value)).toBe(encodeHeaderValue(value));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("puts every message in the era the contract does", () => {
    fc.assert(
      fc.property(messageArb, (json) => {
        const message = readMessage(json);
        expect(message).toBeDefined();
        const stateless = bridge.statelessVersionOf(json) !== undefined;
        expect(stateless).toBe(eraOf(message!, undefined) === "stateless");
      }),
      { numRuns: 500 },
    );
  });

  it("sends routing headers the contract's check accepts for every stateless message", () => {
    fc.assert(
      fc.property(fc.oneof(supportedStatelessArb, messageArb), (json) => {
        const version = bridge.statelessVersionOf(json);
        fc.pre(version !== undefined);
        const sent = bridge.routingHeaders(json, version);
        const message = readMessage(json)!;
        const routing = {
          protocolVersion: sent["mcp-protocol-version"],
          method: sent["mcp-method"],
          name: sent["mcp-name"],
        };
        expect(
          checkRoutingHeaders(message, routing, eraOf(message, routing.protocolVersion)),
        ).toBeUndefined();
        for (const value of Object.values(sent)) expect(value).toMatch(FIELD_VALUE);
      }),
      { numRuns: 500 },
    );
  });
});
