import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RoutingHeaders } from "../../contract/src/mcp-wire.ts";
import { requestItem } from "../../contract/src/mcp-items.ts";
import { parseInvokeBody, parseRpcBody, type RpcMessage } from "../src/policy/rpc-body.ts";

/**
 * Properties of the JSON-RPC body analysis ext-authz decides on: for generated well-formed
 * requests, notifications, responses and batches it reports exactly the method, tool and id that
 * were put in; for anything else it answers with a reason (never an exception) and echoes only a
 * well-formed id.
 */

const none: RoutingHeaders = { protocolVersion: undefined, method: undefined, name: undefined };
const DEPTH = 64;
const REASONS = [
  "parse_error",
  "too_deep",
  "duplicate_key",
  "invalid_request",
  "batch_not_allowed",
  "batch_too_large",
  "batch_initialize",
  "header_mismatch",
  "unsupported_protocol_version",
];

/** What the JSON text carries (JSON.stringify turns -0 into 0, for instance). */
const wire = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const idArb: fc.Arbitrary<string | number> = fc.oneof(
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  // At most 128 code points, so at most 256 UTF-16 units: the contract's bound.
  fc.string({ unit: "binary", maxLength: 128 }),
  fc.string({ unit: "grapheme-ascii", minLength: 256, maxLength: 256 }),
);

const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const toolNameArb = fc.stringMatching(TOOL_NAME);

/** Any method but tools/call (whose params.name must be a tool name) and initialize. */
const methodArb = fc
  .oneof(
    fc.constantFrom(
      "ping",
      "tools/list",
      "prompts/list",
      "tasks/get",
      "tasks/cancel",
      "notifications/initialized",
      "x".repeat(256),
    ),
    fc.string({ unit: "binary", minLength: 1, maxLength: 128 }),
  )
  // tools/call and the methods naming a prompt or resource have generators of their own.
  .filter((method) => method !== "tools/call" && method !== "initialize")
  .filter((method) => requestItem(method, {}) === undefined);

/** Params without `_meta` (a `_meta` version claim moves the request to the stateless era). */
const paramsArb: fc.Arbitrary<Record<string, unknown> | undefined> = fc.option(
  fc
    .dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 })
    .filter((params) => !Object.hasOwn(params, "_meta")),
  { nil: undefined },
);

type Generated = { json: Record<string, unknown>; expected: RpcMessage };

/** The members in a random order: the analysis may not depend on it. */
function shuffled(entries: [string, unknown][]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length })
    .map((order) => Object.fromEntries(order));
}

function present(params: Record<string, unknown> | undefined): [string, unknown][] {
  return params === undefined ? [] : [["params", params]];
}

const requestArb: fc.Arbitrary<Generated> = fc
  .tuple(idArb, methodArb, paramsArb)
  .chain(([id, method, params]) =>
    shuffled([["jsonrpc", "2.0"], ["id", id], ["method", method], ...present(params)]).map(
      (json): Generated => ({
        json,
        expected: wire({
          kind: "request",
          id,
          method,
          params,
          toolName: undefined,
          item: undefined,
        }),
      }),
    ),
  );

const toolCallArb: fc.Arbitrary<Generated> = fc
  .tuple(idArb, toolNameArb, paramsArb)
  .chain(([id, name, extra]) => {
    const params = { ...extra, name };
    return shuffled([
      ["jsonrpc", "2.0"],
      ["id", id],
      ["method", "tools/call"],
      ["params", params],
    ]).map((json): Generated => ({
      json,
      expected: wire({
        kind: "request",
        id,
        method: "tools/call",
        params,
        toolName: name,
        item: undefined,
      }),
    }));
  });

const notificationArb: fc.Arbitrary<Generated> = fc
  .tuple(fc.oneof(methodArb, fc.constant("tools/call")), paramsArb)
  .chain(([method, params]) =>
    shuffled([["jsonrpc", "2.0"], ["method", method], ...present(params)]).map(
      (json): Generated => ({ json, expected: wire({ kind: "notification", method, params }) }),
    ),
  );

const responseArb: fc.Arbitrary<Generated> = fc
  .tuple(fc.oneof(idArb, fc.constant(null)), fc.boolean(), fc.jsonValue({ maxDepth: 2 }))
  .chain(([id, success, payload]) =>
    shuffled([
      ["jsonrpc", "2.0"],
      ["id", id],
      [success ? "result" : "error", payload],
    ]).map((json): Generated => ({
      json,
      expected: wire({ kind: "response", id, [success ? "result" : "error"]: payload }),
    })),
  );

/** 1–32 messages whose request ids are distinct. */
const batchArb = fc
  .array(fc.oneof(requestArb, toolCallArb, notificationArb, responseArb), {
    minLength: 1,
    maxLength: 32,
  })
  .filter((messages) => {
    const ids = messages.flatMap(({ expected }) =>
      expected.kind === "request" ? [expected.id] : [],
    );
    return new Set(ids).size === ids.length;
  });

function isEchoableId(id: unknown): boolean {
  if (id === null) return true;
  if (typeof id === "string") return id.length <= 256;
  return typeof id === "number" && Number.isSafeInteger(id);
}

describe("JSON-RPC body analysis (properties)", () => {
  it("reports the id, method and tool of any well-formed single request or notification", () => {
    fc.assert(
      fc.property(fc.oneof(requestArb, toolCallArb, notificationArb), ({ json, expected }) => {
        const result = parseRpcBody(JSON.stringify(json), none, DEPTH);
        expect(result).toEqual({
          ok: true,
          batch: false,
          id: expected.kind === "request" ? expected.id : null,
          messages: [expected],
        });
      }),
      { numRuns: 400 },
    );
  });

  it("accepts an Mcp-Method header equal to the method and refuses any other", () => {
    const visible = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;
    fc.assert(
      fc.property(
        fc.oneof(requestArb, toolCallArb),
        fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 20 }),
        ({ json, expected }, other) => {
          const method = expected.kind === "response" ? "" : expected.method;
          fc.pre(visible.test(method));
          const text = JSON.stringify(json);
          expect(parseRpcBody(text, { ...none, method: ` ${method}\t` }, DEPTH)).toMatchObject({
            ok: true,
          });
          fc.pre(other.trim() !== method);
          expect(parseRpcBody(text, { ...none, method: other }, DEPTH)).toMatchObject({
            ok: false,
            reason: "header_mismatch",
            id: expected.kind === "request" ? expected.id : null,
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("refuses a tools/call whose params.name is not a tool name, echoing the id", () => {
    const badName = fc.oneof(
      fc.string({ unit: "binary", maxLength: 140 }).filter((name) => !TOOL_NAME.test(name)),
      fc.jsonValue({ maxDepth: 1 }).filter((value) => typeof value !== "string"),
    );
    fc.assert(
      fc.property(idArb, badName, (id, name) => {
        const text = JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name } });
        expect(parseRpcBody(text, none, DEPTH)).toMatchObject({
          ok: false,
          reason: "invalid_request",
          id: wire(id),
        });
      }),
      { numRuns: 300 },
    );
  });

  it("reports every message of a well-formed batch, in order", () => {
    fc.assert(
      fc.property(batchArb, fc.constantFrom(undefined, "2025-03-26"), (batch, version) => {
        const text = JSON.stringify(batch.map(({ json }) => json));
        expect(parseRpcBody(text, { ...none, protocolVersion: version }, DEPTH)).toEqual({
          ok: true,
          batch: true,
          id: null,
          messages: batch.map(({ expected }) => expected),
        });
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a batch that repeats a request id", () => {
    const withRepeat = fc
      .tuple(batchArb, fc.nat(), fc.nat(), methodArb)
      .filter(([batch]) => batch.some(({ expected }) => expected.kind === "request"))
      .map(([batch, pick, at, method]) => {
        const requests = batch.filter(({ expected }) => expected.kind === "request");
        const { expected } = requests[pick % requests.length]!;
        const copy = { jsonrpc: "2.0", id: expected.kind === "request" ? expected.id : 0, method };
        const json = batch.map((message) => message.json as unknown);
        json.splice((at % batch.length) + 1, 0, copy);
        return json;
      })
      .filter((json) => json.length <= 32);
    fc.assert(
      fc.property(withRepeat, (json) => {
        expect(parseRpcBody(JSON.stringify(json), none, DEPTH)).toMatchObject({
          ok: false,
          reason: "invalid_request",
          id: null,
        });
      }),
      { numRuns: 200 },
    );
  });

  it("refuses any batch under another protocol version, with routing headers, or too long", () => {
    fc.assert(
      fc.property(
        batchArb,
        fc.oneof(
          fc.constantFrom("2024-11-05", "2025-06-18", "2025-11-25", "2026-07-28"),
          fc.string({ maxLength: 12 }).filter((version) => version !== "2025-03-26"),
        ),
        toolNameArb,
        (batch, version, name) => {
          const text = JSON.stringify(batch.map(({ json }) => json));
          expect(parseRpcBody(text, { ...none, protocolVersion: version }, DEPTH)).toEqual({
            ok: false,
            reason: "batch_not_allowed",
            id: null,
          });
          for (const headers of [{ method: "tools/call" }, { name }]) {
            expect(parseRpcBody(text, { ...none, ...headers }, DEPTH)).toMatchObject({
              ok: false,
              reason: "header_mismatch",
              id: null,
            });
          }
          const padded = batch.map(({ json }) => json);
          while (padded.length <= 32) padded.push({ jsonrpc: "2.0", method: "notifications/x" });
          expect(parseRpcBody(JSON.stringify(padded), none, DEPTH)).toMatchObject({
            ok: false,
            reason: "batch_too_large",
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it("answers any text with a known reason, never an exception, and echoes only a well-formed id", () => {
    const anyMessage = fc.oneof(requestArb, toolCallArb, notificationArb, responseArb);
    const mutatedMessage = fc
      .tuple(anyMessage, fc.nat(), fc.string({ unit: "binary", maxLength: 4 }), fc.nat(4))
      .map(([{ json }, at, insert, drop]) => {
        const text = JSON.stringify(json);
        const cut = at % (text.length + 1);
        return text.slice(0, cut) + insert + text.slice(cut + drop);
      });
    const looseMessage = fc
      .record(
        {
          jsonrpc: fc.oneof(fc.constant("2.0"), fc.jsonValue({ maxDepth: 1 })),
          id: fc.jsonValue({ maxDepth: 1 }),
          method: fc.oneof(fc.constant("tools/call"), fc.jsonValue({ maxDepth: 1 })),
          params: fc.jsonValue({ maxDepth: 2 }),
          result: fc.jsonValue({ maxDepth: 1 }),
        },
        { requiredKeys: [] },
      )
      .map((json) => JSON.stringify(json));
    const headersArb = fc.record({
      protocolVersion: fc.option(fc.constantFrom("2025-03-26", "2026-07-28", "x"), {
        nil: undefined,
      }),
      method: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
      name: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: "binary" }),
          fc.json({ maxDepth: 3 }),
          mutatedMessage,
          looseMessage,
        ),
        headersArb,
        (text, headers) => {
          const result = parseRpcBody(text, headers, DEPTH);
          if (!result.ok) expect(REASONS).toContain(result.reason);
          expect(isEchoableId(result.id)).toBe(true);
          const invoke = parseInvokeBody(text, DEPTH);
          if (!invoke.ok) expect(REASONS).toContain(invoke.reason);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("reads the tool_name of any well-formed REST invoke body and refuses extra members", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,200}$/),
        fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 })), {
          nil: undefined,
        }),
        fc.option(fc.boolean(), { nil: undefined }),
        fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
        fc.string({ minLength: 1, maxLength: 8 }),
        (toolName, args, async, ttl, extra) => {
          const body = { tool_name: toolName, arguments: args, async, ttl_ms: ttl };
          expect(parseInvokeBody(JSON.stringify(body), DEPTH)).toEqual({
            ok: true,
            toolName,
            arguments: JSON.parse(JSON.stringify(args ?? {})) as unknown,
          });
          fc.pre(!Object.hasOwn(body, extra));
          const withExtra = JSON.stringify({ ...body, [extra]: 1 });
          expect(parseInvokeBody(withExtra, DEPTH)).toEqual({
            ok: false,
            reason: "invalid_request",
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
