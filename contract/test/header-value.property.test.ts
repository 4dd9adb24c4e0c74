import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  checkRoutingHeaders,
  decodeHeaderValue,
  encodeHeaderValue,
  MCP_NAME_SOURCE,
  META_KEY,
  type Era,
  type WireMessage,
} from "../src/mcp-wire.ts";

/**
 * Properties of the Mcp-Name value codec (`=?base64?…?=` for anything but plain visible ASCII)
 * and of the routing check built on it, which ext-authz and the router both apply.
 */

/** What HTTP can carry as a field value: visible ASCII, inner spaces and tabs, no edge blanks. */
const FIELD_VALUE = /^[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?$/;

/** Well-formed Unicode (no lone surrogates: those are not text and cannot be sent as UTF-8). */
const textArb = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "grapheme-ascii", maxLength: 40 }),
  // Pieces of the sentinel and of the whitespace rules, glued in any order.
  fc
    .array(
      fc.constantFrom("=?base64?", "?=", "=", "?", " ", "\t", "\n", "a", "é", "Zm9v", "\u00a0"),
      { maxLength: 6 },
    )
    .map((pieces) => pieces.join("")),
);

const OWS = fc.stringMatching(/^[ \t]{0,3}$/);

describe("Mcp-* header values (properties)", () => {
  it("decodes what it encodes, also with optional whitespace around the field", () => {
    fc.assert(
      fc.property(textArb, OWS, OWS, (value, before, after) => {
        const encoded = encodeHeaderValue(value);
        expect(decodeHeaderValue(encoded)).toBe(value);
        expect(decodeHeaderValue(`${before}${encoded}${after}`)).toBe(value);
      }),
      { numRuns: 1000 },
    );
  });

  it("encodes every value as a valid HTTP field value", () => {
    fc.assert(
      fc.property(fc.oneof(textArb, fc.string({ unit: "binary" })), (value) => {
        expect(encodeHeaderValue(value)).toMatch(FIELD_VALUE);
      }),
      { numRuns: 1000 },
    );
  });

  it("leaves plain visible ASCII unchanged unless it looks like the sentinel", () => {
    fc.assert(
      fc.property(fc.stringMatching(FIELD_VALUE), (value) => {
        const sentinel = value.startsWith("=?base64?") && value.endsWith("?=");
        expect(encodeHeaderValue(value) === value).toBe(!sentinel);
      }),
      { numRuns: 500 },
    );
  });

  it("answers any raw header with a string or undefined, never an exception", () => {
    const sentinelShaped = fc
      .string({ unit: "binary", maxLength: 30 })
      .map((inner) => `=?base64?${inner}?=`);
    const base64Shaped = fc
      .uint8Array({ maxLength: 30 })
      .map((bytes) => `=?base64?${Buffer.from(bytes).toString("base64")}?=`);
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary" }), sentinelShaped, base64Shaped), (raw) => {
        const decoded = decodeHeaderValue(raw);
        expect(decoded === undefined || typeof decoded === "string").toBe(true);
        const trimmed = raw.replace(/^[\t ]+|[\t ]+$/g, "");
        if (!trimmed.startsWith("=?base64?") || !trimmed.endsWith("?=")) {
          expect(decoded).toBe(trimmed);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("decodes bytes in the sentinel exactly when they are UTF-8", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 30 }), (bytes) => {
        const raw = `=?base64?${Buffer.from(bytes).toString("base64")}?=`;
        let text: string | undefined;
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch {
          text = undefined;
        }
        expect(decodeHeaderValue(raw)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  // RFC 4648 §3.5: the unused bits of the last character are zero, so "Zh==" is not "f".
  it("accepts only the canonical base64 spelling of a value", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 10 }), fc.nat(63), (bytes, bump) => {
        fc.pre(bytes.length % 3 !== 0);
        const canonical = Buffer.from(bytes).toString("base64");
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const data = canonical.replace(/=+$/, "");
        const last = alphabet.indexOf(data.at(-1)!);
        const unusedBits = bytes.length % 3 === 1 ? 4 : 2;
        const changed = (last & ~((1 << unusedBits) - 1)) | (bump % (1 << unusedBits) || 1);
        const spelling = data.slice(0, -1) + alphabet[changed] + canonical.slice(data.length);
        expect(decodeHeaderValue(`=?base64?${spelling}?=`)).toBeUndefined();
      }),
      { numRuns: 100 },
    );
  });
});

const STATELESS_META = {
  [META_KEY.protocolVersion]: "2026-07-28",
  [META_KEY.clientCapabilities]: {},
};
const NAMED_METHODS = Object.keys(MCP_NAME_SOURCE);

function request(method: string, value: string, era: Era): WireMessage {
  const field = MCP_NAME_SOURCE[method]!;
  return {
    kind: "request",
    id: 1,
    method,
    params: { [field]: value, ...(era === "stateless" ? { _meta: STATELESS_META } : {}) },
  };
}

describe("Mcp-Name routing check (properties)", () => {
  const eraArb = fc.constantFrom<Era>("session", "stateless");
  const versionOf = (era: Era) => (era === "stateless" ? "2026-07-28" : "2025-11-25");

  it("accepts the encoded body value for every named method, in both eras", () => {
    fc.assert(
      fc.property(fc.constantFrom(...NAMED_METHODS), textArb, eraArb, (method, value, era) => {
        const headers = {
          protocolVersion: versionOf(era),
          method,
          name: encodeHeaderValue(value),
        };
        expect(checkRoutingHeaders(request(method, value, era), headers, era)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });

  it("refuses the encoding of any other value", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...NAMED_METHODS),
        textArb,
        textArb,
        eraArb,
        (method, value, other, era) => {
          fc.pre(value !== other);
          const headers = {
            protocolVersion: versionOf(era),
            method,
            name: encodeHeaderValue(other),
          };
          expect(checkRoutingHeaders(request(method, value, era), headers, era)).toMatchObject({
            reason: "header_mismatch",
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});
