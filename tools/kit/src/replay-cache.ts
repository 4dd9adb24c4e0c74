import type { GatewayAuthReplayGuard } from "../../../contract/src/gateway-auth.ts";

/** Enough for ~1,600 calls a second to one tool server with the default 60 s window. */
export const DEFAULT_REPLAY_CACHE_ENTRIES = 100_000;

export interface ReplayCache extends GatewayAuthReplayGuard {
  /** Headers remembered right now. */
  size(): number;
}

/**
 * The tool server's memory of the `X-Gateway-Auth` headers it accepted, each kept until its
 * window closes (after that the header is refused as stale anyway).
 *
 * Bounded: when full, the oldest entry is dropped and `forgottenThrough` rises to its expiry.
 * Every header accepted so far is then either remembered or expires no later than
 * `forgottenThrough`, so refusing those as `forgotten` never lets a replay through — under
 * overload the guard narrows the window instead of failing open. The same rule covers entries
 * dropped because they expired, which keeps it true if the clock steps back.
 */
export function createReplayCache(options: { maxEntries?: number } = {}): ReplayCache {
  const maxEntries = options.maxEntries ?? DEFAULT_REPLAY_CACHE_ENTRIES;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new Error("createReplayCache: maxEntries must be a positive integer");
  }
  // Insertion order is close to expiry order (timestamps only come from router clocks), so the
  // oldest entries sit at the front of a queue; an entry out of order only lingers until reached.
  // (Iterating a Map from its start instead gets slower with every entry deleted from the front.)
  const members = new Set<string>();
  let keys: string[] = [];
  let expiries: number[] = [];
  let head = 0;
  let forgottenThrough = Number.NEGATIVE_INFINITY;

  const dropOldest = (): void => {
    const key = keys[head] as string;
    const expiresAt = expiries[head] as number;
    head += 1;
    members.delete(key);
    if (expiresAt > forgottenThrough) forgottenThrough = expiresAt;
    if (head >= 1024 && head * 2 >= keys.length) {
      keys = keys.slice(head);
      expiries = expiries.slice(head);
      head = 0;
    }
  };

  return {
    claim(key, expiresAt, nowSeconds) {
      while (head < keys.length && (expiries[head] as number) < nowSeconds) dropOldest();
      if (members.has(key)) return "replayed";
      if (expiresAt <= forgottenThrough) return "forgotten";
      if (members.size >= maxEntries) {
        dropOldest();
        if (expiresAt <= forgottenThrough) return "forgotten";
      }
      members.add(key);
      keys.push(key);
      expiries.push(expiresAt);
      return "first";
    },
    size: () => members.size,
  };
}
