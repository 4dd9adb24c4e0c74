import { MAX_STREAMS_PER_SUBJECT } from "./sse-streams.ts";
import type { JsonRpcNotification } from "./mcp-answer.ts";
import type { SessionBinding } from "./session.ts";

/**
 * 2026-07-28 `subscriptions/listen` streams open on this replica (SEP-2575): what a scope's MCP
 * server announces outside a request, delivered only to the streams whose filter asked for it,
 * each notification tagged with the id of the request that opened the stream.
 */

export const SUBSCRIPTION_ID_META_KEY = "io.modelcontextprotocol/subscriptionId";

/** The notifications a stream agreed to carry (the acknowledged subset of what was asked). */
export type ListenFilter = {
  toolsListChanged: boolean;
  promptsListChanged: boolean;
  resourcesListChanged: boolean;
  resourceSubscriptions: readonly string[];
};

export type ListenStreams = {
  /** Undefined when the user holds as many streams as a user may on this replica. */
  open(listener: {
    binding: SessionBinding;
    subscriptionId: string | number;
    filter: ListenFilter;
    deliver(notification: JsonRpcNotification): void;
    /** Ends the stream gracefully (the router is stopping). */
    end(): void;
  }): { close(): void } | undefined;
  /** A notification of one user's session with the scope's server. */
  publishToUser(binding: SessionBinding, notification: JsonRpcNotification): number;
  /** The scope's tool list changed: every listener of the scope that asked is told. */
  publishToScope(scope: string, notification: JsonRpcNotification): number;
  size(): number;
  endAll(): void;
};

function wanted(filter: ListenFilter, notification: JsonRpcNotification): boolean {
  switch (notification.method) {
    case "notifications/tools/list_changed":
      return filter.toolsListChanged;
    case "notifications/prompts/list_changed":
      return filter.promptsListChanged;
    case "notifications/resources/list_changed":
      return filter.resourcesListChanged;
    case "notifications/resources/updated": {
      const uri = notification.params?.uri;
      return typeof uri === "string" && filter.resourceSubscriptions.includes(uri);
    }
    default:
      // Log messages and anything else belong to requests, never to a listen stream.
      return false;
  }
}

/** The notification as a listen stream carries it: its `_meta` names the subscription. */
export function tagged(
  notification: JsonRpcNotification,
  subscriptionId: string | number,
): JsonRpcNotification {
  const params = notification.params ?? {};
  const meta =
    typeof params._meta === "object" && params._meta !== null && !Array.isArray(params._meta)
      ? (params._meta as Record<string, unknown>)
      : {};
  return {
    jsonrpc: "2.0",
    method: notification.method,
    params: { ...params, _meta: { ...meta, [SUBSCRIPTION_ID_META_KEY]: subscriptionId } },
  };
}

export function createListenStreams(): ListenStreams {
  type Listener = Parameters<ListenStreams["open"]>[0];
  const listeners = new Set<Listener>();
  const publish = (match: (listener: Listener) => boolean, notification: JsonRpcNotification) => {
    let sent = 0;
    for (const listener of listeners) {
      if (!match(listener) || !wanted(listener.filter, notification)) continue;
      listener.deliver(tagged(notification, listener.subscriptionId));
      sent += 1;
    }
    return sent;
  };
  return {
    open(listener) {
      let held = 0;
      for (const other of listeners) if (other.binding.subject === listener.binding.subject) held++;
      if (held >= MAX_STREAMS_PER_SUBJECT) return undefined;
      listeners.add(listener);
      return { close: () => void listeners.delete(listener) };
    },
    publishToUser: (binding, notification) =>
      publish(
        ({ binding: own }) =>
          own.subject === binding.subject &&
          own.tenant === binding.tenant &&
          own.scope === binding.scope,
        notification,
      ),
    publishToScope: (scope, notification) =>
      publish(({ binding }) => binding.scope === scope, notification),
    size: () => listeners.size,
    endAll() {
      for (const listener of [...listeners]) {
        listeners.delete(listener);
        listener.end();
      }
    },
  };
}
