import { z } from "zod";

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type DurationUnit = keyof typeof UNIT_MS;

const DURATION_RE = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/;

/** Parses "500ms" | "30s" | "5m" | "1h" | "1d" into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = DURATION_RE.exec(text.trim());
  if (!match) return undefined;
  const amount = Number(match[1]);
  const unit = match[2] as DurationUnit;
  const ms = amount * UNIT_MS[unit];
  return Number.isSafeInteger(ms) ? ms : undefined;
}

export const DurationSchema = z.string().refine((text) => parseDuration(text) !== undefined, {
  message:
    'invalid duration: expected a positive integer with a unit ms, s, m, h or d (e.g. "30s", "1m")',
});
