/**
 * Tool calls in progress on this replica, so `notifications/cancelled` (a separate POST) can abort
 * the upstream call it names. Keys bind the caller: one user can never cancel another's call.
 */
export type InFlightCalls = {
  start(key: string): { signal: AbortSignal; done(): void };
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

export function createInFlightCalls(): InFlightCalls {
  const calls = new Map<string, AbortController>();
  return {
    start(key) {
      const controller = new AbortController();
      // A reused JSON-RPC id replaces the older entry; the older call still ends on its own.
      calls.set(key, controller);
      return {
        signal: controller.signal,
        done() {
          if (calls.get(key) === controller) calls.delete(key);
        },
      };
    },
    cancel(key) {
      const controller = calls.get(key);
      if (controller === undefined) return false;
      controller.abort();
      calls.delete(key);
      return true;
    },
    size: () => calls.size,
  };
}
