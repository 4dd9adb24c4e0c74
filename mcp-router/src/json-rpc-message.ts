import { z } from "zod";
import type { GatewayErrorCode } from "../../contract/src/errors.ts";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";

/** One inbound JSON-RPC message of a Streamable HTTP POST, classified. */

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

export type InboundParse =
  | { ok: true; message: InboundMessage; raw: unknown }
  | { ok: false; error: GatewayErrorCode; id: JsonRpcId };

export function parseInbound(body: Buffer): InboundParse {
  let raw: unknown;
  try {
    raw = JSON.parse(body.toString("utf8"));
  } catch {
    return { ok: false, error: "GW_PARSE_ERROR", id: null };
  }
  if (Array.isArray(raw)) return { ok: false, error: "GW_BATCH_NOT_SUPPORTED", id: null };
  const request = JsonRpcRequestSchema.safeParse(raw);
  if (request.success)
    return { ok: true, message: { kind: "request", request: request.data }, raw };
  const notification = JsonRpcNotificationSchema.safeParse(raw);
  if (notification.success) {
    return { ok: true, message: { kind: "notification", notification: notification.data }, raw };
  }
  if (JsonRpcResponseSchema.safeParse(raw).success)
    return { ok: true, message: { kind: "response" }, raw };
  return { ok: false, error: "GW_INVALID_REQUEST", id: idOf(raw) };
}

function idOf(raw: unknown): JsonRpcId {
  if (raw === null || typeof raw !== "object") return null;
  const id = (raw as { id?: unknown }).id;
  return typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)) ? id : null;
}
