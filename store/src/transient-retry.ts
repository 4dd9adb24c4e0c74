import { isTransientDatabaseError } from "./transient-error.ts";

export type TransientRetryOptions = {
  /** Attempts in all, the first included. */
  attempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
  isTransient?: (error: unknown) => boolean;
};

/**
 * Someone is waiting for the answer: a PostgreSQL connection terminated under the call is replaced
 * within these few hundred milliseconds, a server restart is not, and the caller fails closed.
 */
export const INTERACTIVE_RETRY = { attempts: 4, initialDelayMs: 50, maxDelayMs: 400 } as const;

/** Nobody is waiting (startup, a task's outcome): long enough to ride out a server restart. */
export const BACKGROUND_RETRY = { attempts: 10, initialDelayMs: 100, maxDelayMs: 2_000 } as const;

/** Exponential backoff with jitter: uniformly in the upper half of min(max, initial · 2^attempt). */
export function backoffDelayMs(
  attempt: number,
  initialDelayMs: number,
  maxDelayMs: number,
): number {
  const ceiling = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Runs `operation` until it succeeds, fails with an error that is not transient, or has used its
 * attempts; the last error is thrown. `operation` gets the attempt number (0 first) so a write can
 * recognise, on a retry, that an earlier attempt committed before its answer was lost.
 */
export async function retryTransient<T>(
  operation: (attempt: number) => Promise<T>,
  options: TransientRetryOptions = {},
): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? INTERACTIVE_RETRY.attempts);
  const initialDelayMs = options.initialDelayMs ?? INTERACTIVE_RETRY.initialDelayMs;
  const maxDelayMs = options.maxDelayMs ?? INTERACTIVE_RETRY.maxDelayMs;
  const isTransient = options.isTransient ?? isTransientDatabaseError;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || !isTransient(error)) throw error;
      const delay = backoffDelayMs(attempt, initialDelayMs, maxDelayMs);
      await new Promise<void>((resolve) => setTimeout(resolve, delay));
    }
  }
}
