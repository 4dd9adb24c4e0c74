import { z } from "zod";
import type { GatewayErrorCode } from "../../contract/src/errors.ts";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";

/** The inbound JSON-RPC message (or 2025-03-26 batch) of a Streamable HTTP POST, classified. */

const IdSchema = z.union([z.string().max(256), z.number().int().safe()]);
const ParamsSchema = z.record(z.string(), z.unknown());

export const JsonRpcRequestSchema = z.strictObject({
  jsonrpc: z.literal("2.0"),
  id: IdSchema,
  method: z.string().min(1).max(256),
  params: ParamsSchema.optional(),
});
export type JsonRpcRequest = z.infer<typeof JsonRpcRequestSchema>;

export const JsonRpcNotificationSchema = z.strictObject({
  jsonrpc: z.literal("2.0"),
  method: z.string().min(1).max(256),
  params: ParamsSchema.optional(),
});
export type JsonRpcNotification = z.infer<typeof JsonRpcNotificationSchema>;

export const JsonRpcResponseSchema = z.union([
  z.strictObject({ jsonrpc: z.literal("2.0"), id: IdSchema, result: z.unknown() }),
  z.strictObject({ jsonrpc: z.literal("2.0"), id: IdSchema.nullable(), error: z.unknown() }),
]);

export type InboundMessage =
  | { kind: "request"; request: JsonRpcRequest }
  | { kind: "notification"; notification: JsonRpcNotification }
  | { kind: "response" };

/** Same bound as ext-authz: every tools/call of a batch is authorized and charged there. */
export const MAX_BATCH_LENGTH = 32;

export type InboundParse =
  | { ok: true; batch: false; message: InboundMessage; raw: unknown }
  | { ok: true; batch: true; messages: InboundMessage[]; raw: unknown[] }
  | { ok: false; error: GatewayErrorCode; id: JsonRpcId; detail?: string };

export function parseInbound(body: Buffer): InboundParse {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString("utf8"));
  } catch {
    return { ok: false, error: "GW_PARSE_ERROR", id: null };
  }
  if (!Array.isArray(raw)) {
    const single = classify(raw);
    return single.ok ? { ok: true, batch: false, message: single.message, raw } : single;
  }
  // Whether this revision has batches is decided by the caller (header and session version).
  if (raw.length === 0) return { ok: false, error: "GW_INVALID_REQUEST", id: null };
  if (raw.length > MAX_BATCH_LENGTH) {
    return {
      ok: false,
      error: "GW_INVALID_REQUEST",
      id: null,
      detail: `A JSON-RPC batch may hold at most ${MAX_BATCH_LENGTH} messages`,
    };
  }
  const messages: InboundMessage[] = [];
  const ids = new Set<string | number>();
  for (const item of raw) {
    const classified = Array.isArray(item) ? undefined : classify(item);
    if (classified === undefined || !classified.ok) {
      return { ok: false, error: "GW_INVALID_REQUEST", id: null };
    }
    const { message } = classified;
    if (message.kind === "request") {
      // Answers are matched by id: a repeated id in one batch would make them ambiguous.
      if (ids.has(message.request.id)) {
        return { ok: false, error: "GW_INVALID_REQUEST", id: null };
      }
      ids.add(message.request.id);
    }
    messages.push(message);
  }
  return { ok: true, batch: true, messages, raw };
}

function classify(
  raw: unknown,
): { ok: true; message: InboundMessage } | { ok: false; error: GatewayErrorCode; id: JsonRpcId } {
  const request = JsonRpcRequestSchema.safeParse(raw);
  if (request.success) return { ok: true, message: { kind: "request", request: request.data } };
  const notification = JsonRpcNotificationSchema.safeParse(raw);
  if (notification.success) {
    return { ok: true, message: { kind: "notification", notification: notification.data } };
  }
  if (JsonRpcResponseSchema.safeParse(raw).success) {
    return { ok: true, message: { kind: "response" } };
  }
  return { ok: false, error: "GW_INVALID_REQUEST", id: idOf(raw) };
}

function idOf(raw: unknown): JsonRpcId {
  if (raw === null || typeof raw !== "object") return null;
  const id = (raw as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)) ? id : null;
}
