import {
  GATEWAY_ERRORS,
  jsonRpcErrorBody,
  type GatewayErrorCode,
} from "../../contract/src/errors.ts";
import { RPC_CODE, type JsonRpcId } from "../../contract/src/json-rpc.ts";
import type { Era, RoutingHeaders } from "../../contract/src/mcp-wire.ts";
import { jsonResponse, sseEvent, type ResponseHeaders, type RouterResponse } from "./http-types.ts";
import type { FinalAnswer, McpAnswer, StreamItem } from "./mcp-answer.ts";

/**
 * Answers → HTTP, once per era. Both eras answer a request with one JSON object or, when the
 * handler streams and the client accepts it, an event stream whose last event is the response;
 * a notification or response gets 202. They differ in result shape (2026-07-28 `resultType`) and
 * in the status of some errors (2026-07-28: an unknown method is 404).
 */

/** One MCP POST as the transport saw it. */
export type McpExchange = {
  /** Request headers, lower-case names. */
  headers: Record<string, string>;
  routing: RoutingHeaders;
  /** The client listed `text/event-stream` in Accept. */
  acceptsSse: boolean;
  /** Sent with every answer: the authorizer's headers and the request id. */
  responseHeaders: ResponseHeaders;
};

export type EncodeOptions = {
  era: Era;
  /** The request's id; null for notifications, responses and refusals without an id. */
  id: JsonRpcId;
  acceptsSse: boolean;
  responseHeaders: ResponseHeaders;
};

export function httpStatusOf(era: Era, error: GatewayErrorCode): number {
  if (era === "stateless" && error === "GW_METHOD_NOT_FOUND") return 404;
  return GATEWAY_ERRORS[error].httpStatus;
}

/**
 * An error kept as it was (a standard MCP server's, a failed task's): 2026-07-28 answers the two
 * protocol-level ones with their HTTP status, as the gateway's own; everything else is 200.
 */
function storedErrorStatus(era: Era, code: number): number {
  if (era !== "stateless") return 200;
  if (code === RPC_CODE.methodNotFound) return 404;
  if (code === RPC_CODE.missingRequiredClientCapability) {
    return GATEWAY_ERRORS.GW_MISSING_CLIENT_CAPABILITY.httpStatus;
  }
  return 200;
}

/** The JSON-RPC message of a final answer; undefined when nothing is sent back. */
export function jsonRpcMessage(answer: FinalAnswer, era: Era, id: JsonRpcId): object | undefined {
  switch (answer.kind) {
    case "result":
      return {
        jsonrpc: "2.0",
        id,
        result:
          era === "stateless"
            ? {
                ...answer.result,
                // A 2026-07-28 server's InputRequiredResult is relayed as what it is.
                resultType:
                  answer.resultType ??
                  (answer.result.resultType === "input_required" ? "input_required" : "complete"),
              }
            : answer.result,
      };
    case "error":
      return jsonRpcErrorBody(answer.error, id, {
        ...(answer.detail === undefined ? {} : { detail: answer.detail }),
        ...(answer.data === undefined ? {} : { data: answer.data }),
      });
    case "stored_error":
      return { jsonrpc: "2.0", id, error: answer.error };
    case "none":
      return undefined;
  }
}

function encodeFinal(answer: FinalAnswer, options: EncodeOptions): RouterResponse {
  const message = jsonRpcMessage(answer, options.era, options.id);
  if (message === undefined) return { status: 202, headers: options.responseHeaders };
  const status =
    answer.kind === "error"
      ? httpStatusOf(options.era, answer.error)
      : answer.kind === "stored_error"
        ? storedErrorStatus(options.era, answer.error.code)
        : 200;
  const headers =
    answer.kind === "result" && answer.headers !== undefined
      ? { ...options.responseHeaders, ...answer.headers }
      : options.responseHeaders;
  return jsonResponse(status, message, headers);
}

function sseFrame(item: StreamItem, options: EncodeOptions): string | undefined {
  switch (item.kind) {
    case "notification":
    case "request":
      return sseEvent(item.message);
    case "keepalive":
      return ": keepalive\n\n";
    case "final": {
      const message = jsonRpcMessage(item.answer, options.era, options.id);
      return message === undefined ? undefined : sseEvent(message);
    }
  }
}

/**
 * A stream whose answer arrives before anything else is sent as plain JSON; otherwise as SSE,
 * which only a client accepting `text/event-stream` gets (the others wait for the answer).
 */
export async function encodeAnswer(
  answer: McpAnswer,
  options: EncodeOptions,
): Promise<RouterResponse> {
  if (answer.kind !== "stream") return encodeFinal(answer, options);
  const iterator = answer.items[Symbol.asyncIterator]();
  let first = await iterator.next();
  if (!options.acceptsSse) {
    while (first.done !== true && first.value.kind !== "final") first = await iterator.next();
  }
  if (first.done === true) return encodeFinal({ kind: "none" }, options);
  if (first.value.kind === "final") return encodeFinal(first.value.answer, options);
  const opening = first.value;
  async function* frames(): AsyncGenerator<string> {
    let item: StreamItem | undefined = opening;
    while (item !== undefined) {
      const frame = sseFrame(item, options);
      if (frame !== undefined) yield frame;
      if (item.kind === "final") return;
      const next = await iterator.next();
      item = next.done === true ? undefined : next.value;
    }
  }
  return { status: 200, headers: options.responseHeaders, events: frames() };
}

/** A 2025-03-26 batch: the answers to its requests in one JSON array, 202 when there are none. */
export function encodeBatch(
  answers: readonly { id: JsonRpcId; answer: FinalAnswer }[],
  headers: ResponseHeaders,
): RouterResponse {
  const messages = answers
    .map(({ id, answer }) => jsonRpcMessage(answer, "session", id))
    .filter((message) => message !== undefined);
  if (messages.length === 0) return { status: 202, headers };
  return jsonResponse(200, messages, headers);
}

/**
 * Every SSE frame of an answer, in order: the HTTP+SSE transport (2024-11-05) delivers all
 * answers on the stream its GET opened, not on the POST.
 */
export async function* sseFramesOf(
  answer: McpAnswer,
  options: Pick<EncodeOptions, "era" | "id">,
): AsyncGenerator<string> {
  const items: AsyncIterable<StreamItem> | Iterable<StreamItem> =
    answer.kind === "stream" ? answer.items : [{ kind: "final", answer }];
  for await (const item of items) {
    if (item.kind === "keepalive") continue;
    const frame = sseFrame(item, { ...options, acceptsSse: true, responseHeaders: {} });
    if (frame !== undefined) yield frame;
    if (item.kind === "final") return;
  }
}
