/**
 * A signal that aborts as soon as any of `signals` does, with `release()` to unhook it once the
 * work it guards is over. What AbortSignal.any gives, without the registry of dependent signals
 * it keeps for the garbage collector: called once or twice for every tool call, that registry
 * showed in the router's profiles.
 */
export function linkedSignal(signals: readonly AbortSignal[]): {
  signal: AbortSignal;
  release(): void;
} {
  const controller = new AbortController();
  const abort = () => controller.abort();
  const hooked: AbortSignal[] = [];
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort();
      break;
    }
    signal.addEventListener("abort", abort, { once: true });
    hooked.push(signal);
  }
  return {
    signal: controller.signal,
    release() {
      for (const signal of hooked) signal.removeEventListener("abort", abort);
      hooked.length = 0;
    },
  };
}
