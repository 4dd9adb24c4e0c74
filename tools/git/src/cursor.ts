import { createHash } from "node:crypto";
import { z } from "zod";
import { fail, succeed, type ToolOutcome } from "./tool-result.ts";

const CursorPayloadSchema = z.strictObject({
  v: z.literal(1),
  o: z.number().int().min(0).max(10_000_000),
  q: z.string().regex(/^[0-9a-f]{16}$/),
});

/**
 * The fingerprint binds a cursor to the query that produced it (tool, repository, resolved
 * commit SHAs, filters), so a cursor replayed with other arguments is refused instead of
 * silently paging through a different result.
 */
export function queryFingerprint(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

export function encodeCursor(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ v: 1, o: offset, q: fingerprint }), "utf8").toString(
    "base64url",
  );
}

/** Returns the offset a cursor points at; an absent cursor is offset 0. */
export function decodeCursor(cursor: string | undefined, fingerprint: string): ToolOutcome<number> {
  if (cursor === undefined) return succeed(0);
  if (cursor.length > 512 || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    return fail("invalid_cursor", "cursor is not one this server issued");
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return fail("invalid_cursor", "cursor is not one this server issued");
  }
  const parsed = CursorPayloadSchema.safeParse(payload);
  if (!parsed.success) return fail("invalid_cursor", "cursor is not one this server issued");
  if (parsed.data.q !== fingerprint) {
    return fail("invalid_cursor", "cursor belongs to a different query; repeat the same arguments");
  }
  return succeed(parsed.data.o);
}
