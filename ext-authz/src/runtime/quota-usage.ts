/**
 * Which quota counters are busy, for the operators' `GET /admin/limits`. Neither store can be
 * listed cheaply (rate-limiter-flexible's memory store has no iterator; a Redis SCAN walks every
 * key of every user), so the limiter reports each counter state it already has in hand after a
 * spend — no extra I/O on the check path — and this table keeps the latest one per counter.
 *
 * Bounded: at most `maxEntries` counters; expired ones go first, then the least recently spent
 * (busy counters are spent often, so they stay). With Redis the table only names the counters;
 * their counts are read again from Redis when a snapshot is taken (see rate-limit.ts).
 */
import type { QuotaCharge, QuotaKind } from "../policy/quota.ts";
import { windowSeconds, type CounterState } from "./redis-counters.ts";

export type QuotaUsageEntry = {
  kind: QuotaKind;
  key: string;
  /** Points spent in the current window (as last seen). */
  consumed: number;
  /** The limit of the last charge that spent it. */
  limit: number;
  windowSeconds: number;
  /** When the window ends, epoch ms. */
  resetAt: number;
};

export type QuotaUsageTracker = {
  /** A counter's state after a spend (`state.consumed` includes that spend). */
  record(charge: QuotaCharge, state: CounterState): void;
  /** A point given back by a refund. */
  refunded(charge: QuotaCharge): void;
  /** Replaces a counter's count (a fresh read from the shared store); 0 or less forgets it. */
  update(entry: QuotaUsageEntry, state: CounterState | undefined): void;
  /** Live counters, busiest first (share of the limit, then count), at most `perKind` of each kind. */
  busiest(perKind: number): QuotaUsageEntry[];
  /** Live counters tracked. */
  size(): number;
};

export const DEFAULT_MAX_TRACKED_COUNTERS = 10_000;

function identity(kind: QuotaKind, seconds: number, key: string): string {
  return `${kind}\u0000${seconds}\u0000${key}`;
}

export function createQuotaUsageTracker(
  options: { maxEntries?: number; now?: () => number } = {},
): QuotaUsageTracker {
  const now = options.now ?? Date.now;
  const maxEntries = Math.max(1, options.maxEntries ?? DEFAULT_MAX_TRACKED_COUNTERS);
  // Insertion order is recency: a spend moves its counter to the end.
  const entries = new Map<string, QuotaUsageEntry>();

  function evict(): void {
    if (entries.size <= maxEntries) return;
    const at = now();
    for (const [id, entry] of entries) {
      if (entries.size <= maxEntries) return;
      if (entry.resetAt <= at) entries.delete(id);
    }
    for (const id of entries.keys()) {
      if (entries.size <= maxEntries) return;
      entries.delete(id);
    }
  }

  return {
    record(charge, state) {
      const seconds = windowSeconds(charge.rule.durationMs);
      const id = identity(charge.kind, seconds, charge.key);
      entries.delete(id);
      entries.set(id, {
        kind: charge.kind,
        key: charge.key,
        consumed: Math.max(0, state.consumed),
        limit: charge.rule.points,
        windowSeconds: seconds,
        resetAt: now() + Math.max(0, state.msBeforeReset),
      });
      evict();
    },
    refunded(charge) {
      const entry = entries.get(
        identity(charge.kind, windowSeconds(charge.rule.durationMs), charge.key),
      );
      if (entry !== undefined) entry.consumed = Math.max(0, entry.consumed - 1);
    },
    update(entry, state) {
      const id = identity(entry.kind, entry.windowSeconds, entry.key);
      const current = entries.get(id);
      if (current === undefined) return;
      if (state === undefined || state.consumed <= 0 || state.msBeforeReset <= 0) {
        entries.delete(id);
        return;
      }
      current.consumed = state.consumed;
      current.resetAt = now() + state.msBeforeReset;
    },
    busiest(perKind) {
      const at = now();
      const live: QuotaUsageEntry[] = [];
      for (const [id, entry] of entries) {
        if (entry.resetAt <= at) entries.delete(id);
        else if (entry.consumed > 0) live.push(entry);
      }
      live.sort(
        (a, b) =>
          b.consumed / Math.max(1, b.limit) - a.consumed / Math.max(1, a.limit) ||
          b.consumed - a.consumed ||
          a.key.localeCompare(b.key),
      );
      const taken = new Map<QuotaKind, number>();
      const result: QuotaUsageEntry[] = [];
      for (const entry of live) {
        const count = taken.get(entry.kind) ?? 0;
        if (count >= perKind) continue;
        taken.set(entry.kind, count + 1);
        result.push({ ...entry });
      }
      return result;
    },
    size() {
      const at = now();
      let live = 0;
      for (const entry of entries.values()) if (entry.resetAt > at) live += 1;
      return live;
    },
  };
}
