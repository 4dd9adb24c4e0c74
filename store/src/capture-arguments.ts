import { digestJson } from "../../contract/src/digest.ts";

export type ArgumentCaptureMode = "none" | "digest" | "full";
export type CapturedArguments = { arguments_digest?: string; arguments?: unknown };

export const REDACTED = "[redacted]";

const normalizeKey = (key: string): string => key.toLowerCase().replaceAll("-", "_");

/**
 * What the audit log keeps of a tool call's arguments: nothing, a SHA-256 digest of their
 * canonical JSON (default), or the arguments with every value under a sensitive key replaced.
 * A key is sensitive when it contains a redact key (case-insensitive, `-` = `_`), so
 * `db_password` is caught by `password`.
 */
export function captureArguments(
  args: unknown,
  mode: ArgumentCaptureMode,
  redactKeys: readonly string[],
): CapturedArguments {
  switch (mode) {
    case "none":
      return {};
    case "digest":
      return { arguments_digest: digestJson(args ?? null) };
    case "full": {
      const needles = redactKeys.map(normalizeKey).filter((key) => key.length > 0);
      return {
        arguments_digest: digestJson(args ?? null),
        arguments: redact(args ?? null, needles),
      };
    }
  }
}

function redact(value: unknown, needles: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, needles));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const normalized = normalizeKey(key);
      out[key] = needles.some((needle) => normalized.includes(needle))
        ? REDACTED
        : redact(item, needles);
    }
    return out;
  }
  return value;
}
