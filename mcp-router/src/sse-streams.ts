import { randomBytes } from "node:crypto";
import type { Channel } from "./mcp-answer.ts";
import type { SessionBinding } from "./session.ts";

/**
 * Server-to-client streams open on this replica: HTTP+SSE (2024-11-05) streams, by the id their
 * endpoint event announced, and the standalone GET streams of Streamable HTTP sessions on scopes
 * served by an MCP server. Each is bound to the user and scope that opened it.
 */

/** Streams one user may hold open on one replica: each holds a connection and a timer. */
export const MAX_STREAMS_PER_SUBJECT = 16;

export type SseStream = {
  binding: SessionBinding;
  frames: Channel<string>;
  /** Aborted when the stream's GET ends: its calls are cancelled with it. */
  signal: AbortSignal;
};

export type SseStreams = {
  open(binding: SessionBinding, frames: Channel<string>): { id: string; close(): void } | undefined;
  get(id: string): SseStream | undefined;
  /** Sends one event to every stream of `binding` on this replica; how many got it. */
  publish(binding: SessionBinding, frame: string): number;
  size(): number;
  closeAll(): void;
};

export function createSseStreams(): SseStreams {
  const streams = new Map<string, SseStream & { close(): void }>();
  return {
    open(binding, frames) {
      let held = 0;
      for (const stream of streams.values())
        if (stream.binding.subject === binding.subject) held += 1;
      if (held >= MAX_STREAMS_PER_SUBJECT) return undefined;
      const id = randomBytes(24).toString("base64url");
      const controller = new AbortController();
      const close = () => {
        if (!streams.delete(id)) return;
        controller.abort();
        frames.close();
      };
      streams.set(id, { binding, frames, signal: controller.signal, close });
      return { id, close };
    },
    get: (id) => streams.get(id),
    publish(binding, frame) {
      let sent = 0;
      for (const stream of streams.values()) {
        const { subject, tenant, scope } = stream.binding;
        if (subject !== binding.subject || tenant !== binding.tenant || scope !== binding.scope) {
          continue;
        }
        stream.frames.push(frame);
        sent += 1;
      }
      return sent;
    },
    size: () => streams.size,
    closeAll() {
      for (const stream of [...streams.values()]) stream.close();
    },
  };
}
