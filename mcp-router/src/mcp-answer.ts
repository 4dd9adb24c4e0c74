import type { GatewayErrorCode } from "../../contract/src/errors.ts";
import type { JsonRpcErrorObject } from "../../contract/src/json-rpc.ts";
import type { Era } from "../../contract/src/mcp-wire.ts";
import type { VerdictClaims } from "../../contract/src/verdict.ts";
import type { Logger } from "../../contract/src/log.ts";
import type { ClientCapability } from "./session.ts";

/**
 * What an MCP method handler answers, before any HTTP: a result, an error, a stream of
 * notifications ending in one of those, or nothing. The era's encoder (mcp-encoding.ts) alone
 * decides status codes, headers and SSE framing, so one handler serves every revision.
 */

/** One authorized MCP request: who, where, and in which revision. */
export type McpCall = {
  scope: string;
  verdict: VerdictClaims;
  requestId: string;
  logger: Logger;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
  era: Era;
  /** The session of a session-era request (after initialize). */
  sessionId: string | undefined;
  /** Session era: the server requests the client can answer (declared at initialize). */
  clientCapabilities?: readonly ClientCapability[];
  /**
   * HTTP+SSE (2024-11-05): the POST was answered 202 and the answer travels on the stream, so no
   * error status of its own reaches the client.
   */
  answeredOnStream?: boolean;
};

export type FinalAnswer =
  | {
      kind: "result";
      result: Record<string, unknown>;
      /** 2026-07-28 `resultType`; `complete` unless said otherwise. */
      resultType?: "complete" | "task" | "input_required";
      /** Response headers this answer needs (initialize: the session id). */
      headers?: Record<string, string>;
    }
  | {
      kind: "error";
      error: GatewayErrorCode;
      detail?: string;
      data?: Record<string, unknown>;
    }
  /** An error object kept verbatim (a failed task's stored error). */
  | { kind: "stored_error"; error: JsonRpcErrorObject }
  /** Nothing to send back: a notification, a response, or a request the client cancelled. */
  | { kind: "none" };

export type JsonRpcNotification = {
  jsonrpc: "2.0";
  method: string;
  params?: Record<string, unknown>;
};

/** A request of an MCP server behind the gateway, relayed to the client under a gateway id. */
export type JsonRpcRequest = {
  jsonrpc: "2.0";
  id: string;
  method: string;
  params?: Record<string, unknown>;
};

/** How often a long-lived SSE answer sends a comment, so idle-timeout proxies keep it open. */
export const KEEPALIVE_MS = 15_000;

export type StreamItem =
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "request"; message: JsonRpcRequest }
  /** Keeps idle-timeout proxies from cutting a long wait; only meaningful on SSE. */
  | { kind: "keepalive" }
  | { kind: "final"; answer: FinalAnswer };

/** Items in order; the last is always `final`. */
export type McpAnswer = FinalAnswer | { kind: "stream"; items: AsyncIterable<StreamItem> };

export function result(
  value: Record<string, unknown>,
  extra: {
    resultType?: "complete" | "task" | "input_required";
    headers?: Record<string, string>;
  } = {},
): FinalAnswer {
  return { kind: "result", result: value, ...extra };
}

export function failure(
  error: GatewayErrorCode,
  extra: { detail?: string; data?: Record<string, unknown> } = {},
): FinalAnswer {
  return { kind: "error", error, ...extra };
}

export const NO_ANSWER: FinalAnswer = { kind: "none" };

export type Channel<T> = AsyncIterable<T> & { push(item: T): void; close(): void };

/** A single-consumer queue: handlers push while the encoder reads. */
export function createChannel<T>(): Channel<T> {
  const items: T[] = [];
  let closed = false;
  let wake: (() => void) | undefined;
  return {
    push(item) {
      if (closed) return;
      items.push(item);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const item = items.shift();
        if (item !== undefined) {
          yield item;
          continue;
        }
        if (closed) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    },
  };
}

/** The final answer of a stream, skipping what came before (batches, clients without SSE). */
export async function finalOf(answer: McpAnswer): Promise<FinalAnswer> {
  if (answer.kind !== "stream") return answer;
  for await (const item of answer.items) if (item.kind === "final") return item.answer;
  return NO_ANSWER;
}
