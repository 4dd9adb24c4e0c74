/**
 * Tool calls in progress on this replica, so `notifications/cancelled` (a separate POST) can abort
 * the upstream call it names. Keys bind the caller: one user can never cancel another's call.
 */
export type InFlightCall = {
  /** Aborts when the call is cancelled by its key or when the request's own signal aborts. */
  signal: AbortSignal;
  /** Whether `signal` aborted because of cancel(), not the request's signal. */
  readonly cancelled: boolean;
  /** The call is over: forget it and unhook the request's signal. */
  done(): void;
};

export type InFlightCalls = {
  start(key: string, requestSignal: AbortSignal): InFlightCall;
  cancel(key: string): boolean;
  size(): number;
};

export function inFlightKey(
  subject: string,
  sessionId: string | undefined,
  id: string | number,
): string {
  return JSON.stringify([subject, sessionId ?? null, id]);
}

type Entry = { controller: AbortController; cancelled: boolean };

export function createInFlightCalls(): InFlightCalls {
  const calls = new Map<string, Entry>();
  return {
    start(key, requestSignal) {
      // One controller for both causes: a second one linked to it cost a controller and a listener
      // more on every tool call.
      const entry: Entry = { controller: new AbortController(), cancelled: false };
      // A reused JSON-RPC id replaces the older entry; the older call still ends on its own.
      calls.set(key, entry);
      const abort = () => entry.controller.abort();
      if (requestSignal.aborted) abort();
      else requestSignal.addEventListener("abort", abort, { once: true });
      return {
        signal: entry.controller.signal,
        get cancelled() {
          return entry.cancelled;
        },
        done() {
          requestSignal.removeEventListener("abort", abort);
          if (calls.get(key) === entry) calls.delete(key);
        },
      };
    },
    cancel(key) {
      const entry = calls.get(key);
      if (entry === undefined) return false;
      entry.cancelled = true;
      entry.controller.abort();
      calls.delete(key);
      return true;
    },
    size: () => calls.size,
  };
}
