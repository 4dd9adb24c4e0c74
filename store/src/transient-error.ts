/**
 * Whether retrying a failed database call can succeed: connection loss, server shutdown,
 * resource exhaustion, serialization failures and deadlocks. SQLSTATE classes are from the
 * PostgreSQL error-code appendix; errors without a SQLSTATE (socket errors, "Connection
 * terminated") are connection problems.
 */
const TRANSIENT_SQLSTATE_CLASSES = ["08", "53", "57"]; // connection exception, insufficient resources, operator intervention
const TRANSIENT_SQLSTATES = ["40001", "40P01"]; // serialization failure, deadlock detected
const SQLSTATE_RE = /^[0-9A-Z]{5}$/;

export function isTransientDatabaseError(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && SQLSTATE_RE.test(code)) {
    // 57014 (query_canceled) is a statement timeout: retrying the same insert is reasonable too.
    return (
      TRANSIENT_SQLSTATES.includes(code) || TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2))
    );
  }
  return error instanceof Error;
}
