import { randomBytes } from "node:crypto";
import type { JsonRpcId } from "../../contract/src/json-rpc.ts";
import type { JsonRpcRequest } from "./mcp-answer.ts";

/**
 * Requests an MCP server behind the gateway sends to the client while one of the client's
 * requests is in progress (sampling, elicitation, roots). Each is relayed on that request's
 * stream under an unguessable gateway id, and answered by the client's next POST carrying a
 * JSON-RPC response with that id, on the same session. The server's own id never reaches the
 * client, and an answer is accepted only from the session the request went to.
 */

export type ServerRequest = {
  method: string;
  params: Record<string, unknown> | undefined;
  /** A 2026-07-28 server's key for the request in its InputRequiredResult. */
  key?: string;
};

/** What goes back to the server: the client's result, or an error. */
export type ServerRequestAnswer =
  | { result: Record<string, unknown> }
  | { error: { code: number; message: string; data?: unknown } };

export type RequestOwner = { subject: string; tenant: string | null; sessionId: string };

export type ServerRequests = {
  /**
   * Relays `request` with `push` and resolves with the client's answer; with an error when the
   * client answers badly, or when `signal` aborts first (the request it belonged to ended).
   */
  relay(
    owner: RequestOwner,
    request: ServerRequest,
    push: (message: JsonRpcRequest) => void,
    signal: AbortSignal,
  ): Promise<ServerRequestAnswer>;
  /** A client's response; false when this session has no relayed request with that id. */
  answer(
    owner: RequestOwner,
    id: JsonRpcId,
    payload: { result?: unknown; error?: unknown },
  ): boolean;
  /** Requests waiting for an answer. */
  size(): number;
};

const ID_PREFIX = "gw-";
/** JSON-RPC: the server asked for something the gateway could not get from the client. */
const INTERNAL_ERROR = -32603;
const MAX_ERROR_MESSAGE = 1000;

function ownerKey(owner: RequestOwner, id: string): string {
  return JSON.stringify([owner.tenant, owner.subject, owner.sessionId, id]);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The client's answer as the server will get it; a malformed one becomes an error. */
function checkedAnswer(payload: { result?: unknown; error?: unknown }): ServerRequestAnswer {
  if (payload.result !== undefined) {
    return isRecord(payload.result)
      ? { result: payload.result }
      : { error: { code: INTERNAL_ERROR, message: "The client's result was not an object" } };
  }
  const error = payload.error;
  if (
    isRecord(error) &&
    typeof error.code === "number" &&
    Number.isInteger(error.code) &&
    typeof error.message === "string"
  ) {
    return {
      error: {
        code: error.code,
        message: error.message.slice(0, MAX_ERROR_MESSAGE),
        ...(error.data === undefined ? {} : { data: error.data }),
      },
    };
  }
  return { error: { code: INTERNAL_ERROR, message: "The client's error was malformed" } };
}

export function createServerRequests(options: { maxPending?: number } = {}): ServerRequests {
  const maxPending = options.maxPending ?? 10_000;
  const pending = new Map<string, (answer: ServerRequestAnswer) => void>();
  return {
    relay(owner, request, push, signal) {
      if (signal.aborted || pending.size >= maxPending) {
        return Promise.resolve({
          error: { code: INTERNAL_ERROR, message: "The client cannot be asked now" },
        });
      }
      const id = `${ID_PREFIX}${randomBytes(16).toString("base64url")}`;
      const key = ownerKey(owner, id);
      return new Promise<ServerRequestAnswer>((resolve) => {
        const settle = (answer: ServerRequestAnswer) => {
          if (!pending.delete(key)) return;
          signal.removeEventListener("abort", onAbort);
          resolve(answer);
        };
        const onAbort = () =>
          settle({ error: { code: INTERNAL_ERROR, message: "The client did not answer in time" } });
        pending.set(key, settle);
        signal.addEventListener("abort", onAbort, { once: true });
        push({
          jsonrpc: "2.0",
          id,
          method: request.method,
          ...(request.params === undefined ? {} : { params: request.params }),
        });
      });
    },
    answer(owner, id, payload) {
      if (typeof id !== "string" || !id.startsWith(ID_PREFIX)) return false;
      const settle = pending.get(ownerKey(owner, id));
      if (settle === undefined) return false;
      settle(checkedAnswer(payload));
      return true;
    },
    size: () => pending.size,
  };
}
