import type { ServerRequest, ServerRequestAnswer } from "../server-requests.ts";

/**
 * What the server asks while the gateway runs a call as a task (SEP-2663 `input_required`): each
 * request waits under a key (the server's own when it named one, else `input-1`, `input-2`, …)
 * until the client's tasks/update answers it, or the task ends. Kept in the memory of the replica
 * running the task, whose upstream call is the one waiting.
 */

export type TaskInputRequests = Record<
  string,
  { method: string; params?: Record<string, unknown> }
>;

export type TaskInputs = {
  /** Asks for `request` in `taskId`'s name; `first` when nothing else was outstanding. */
  ask(
    taskId: string,
    request: ServerRequest,
    signal: AbortSignal,
  ): { first: boolean; answer: Promise<ServerRequestAnswer> };
  /** The outstanding requests of a task on this replica; undefined when there are none. */
  requests(taskId: string): TaskInputRequests | undefined;
  /** Answers the outstanding requests `responses` names; the others keep waiting. */
  answer(
    taskId: string,
    responses: Record<string, unknown>,
  ): { answered: number; remaining: number };
  /** The task ended: whatever still waits is answered with an error. */
  forget(taskId: string): void;
};

type Waiting = { request: ServerRequest; resolve: (answer: ServerRequestAnswer) => void };

const ENDED: ServerRequestAnswer = { error: { code: -32603, message: "The task has ended" } };

export function createTaskInputs(): TaskInputs {
  const byTask = new Map<string, { next: number; waiting: Map<string, Waiting> }>();

  return {
    ask(taskId, request, signal) {
      let entry = byTask.get(taskId);
      if (entry === undefined) {
        entry = { next: 1, waiting: new Map() };
        byTask.set(taskId, entry);
      }
      const first = entry.waiting.size === 0;
      let key = request.key ?? `input-${entry.next++}`;
      while (entry.waiting.has(key)) key = `input-${entry.next++}`;
      const waiting = entry.waiting;
      const answer = new Promise<ServerRequestAnswer>((resolve) => {
        if (signal.aborted) return resolve(ENDED);
        const done = (value: ServerRequestAnswer) => {
          signal.removeEventListener("abort", onAbort);
          waiting.delete(key);
          resolve(value);
        };
        const onAbort = () => done(ENDED);
        signal.addEventListener("abort", onAbort, { once: true });
        waiting.set(key, { request, resolve: done });
      });
      return { first, answer };
    },
    requests(taskId) {
      const waiting = byTask.get(taskId)?.waiting;
      if (waiting === undefined || waiting.size === 0) return undefined;
      const requests: TaskInputRequests = {};
      for (const [key, { request }] of waiting) {
        requests[key] = {
          method: request.method,
          ...(request.params === undefined ? {} : { params: request.params }),
        };
      }
      return requests;
    },
    answer(taskId, responses) {
      const waiting = byTask.get(taskId)?.waiting;
      if (waiting === undefined) return { answered: 0, remaining: 0 };
      let answered = 0;
      for (const [key, response] of Object.entries(responses)) {
        const entry = waiting.get(key);
        if (entry === undefined) continue;
        answered += 1;
        entry.resolve(
          typeof response === "object" && response !== null && !Array.isArray(response)
            ? { result: response as Record<string, unknown> }
            : { error: { code: -32603, message: "The client's input response was not an object" } },
        );
      }
      return { answered, remaining: waiting.size };
    },
    forget(taskId) {
      const entry = byTask.get(taskId);
      byTask.delete(taskId);
      for (const waiting of entry?.waiting.values() ?? []) waiting.resolve(ENDED);
    },
  };
}
