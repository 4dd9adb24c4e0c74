/**
 * Whether retrying a failed database call can succeed: connection loss, server shutdown or
 * restart, resource exhaustion, serialization failures and deadlocks. SQLSTATE classes are from
 * the PostgreSQL error-code appendix; errors without a SQLSTATE (socket errors such as
 * ECONNREFUSED or EPIPE, pg's "Connection terminated unexpectedly", a pool connect timeout) are
 * connection problems. JavaScript's own TypeError, RangeError, ReferenceError and SyntaxError are
 * bugs, and a handle this process closed stays closed: waiting fixes neither.
 */
// Connection exception, insufficient resources (e.g. too many connections), operator intervention
// (57P01 admin shutdown or pg_terminate_backend, 57P02 crash shutdown, 57P03 cannot connect now).
const TRANSIENT_SQLSTATE_CLASSES = ["08", "53", "57"];
const TRANSIENT_SQLSTATES = ["40001", "40P01"]; // serialization failure, deadlock detected
// No SQLSTATE class starts with E, while Node's socket error codes do (EPIPE is five characters).
const SQLSTATE_RE = /^[0-9A-DF-Z][0-9A-Z]{4}$/;
const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError];
// The database handle was closed by this process (shutdown): no later attempt can succeed.
const CLOSED_BY_US = [
  "driver has already been destroyed", // kysely
  "Cannot use a pool after calling end on the pool", // pg-pool
  "PGlite is closed",
];

export function isTransientDatabaseError(error: unknown): boolean {
  if (error === null || typeof error !== "object") return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && SQLSTATE_RE.test(code)) {
    // 57014 (query_canceled) is a statement timeout: retrying the same insert is reasonable too.
    return (
      TRANSIENT_SQLSTATES.includes(code) || TRANSIENT_SQLSTATE_CLASSES.includes(code.slice(0, 2))
    );
  }
  if (PROGRAMMING_ERRORS.some((type) => error instanceof type)) return false;
  return error instanceof Error && !CLOSED_BY_US.includes(error.message);
}

/** 23505: the row is already there (a retried insert may find its own earlier attempt). */
export function isUniqueViolation(error: unknown): boolean {
  return (
    error !== null && typeof error === "object" && (error as { code?: unknown }).code === "23505"
  );
}
