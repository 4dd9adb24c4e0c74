import {
  createTestDatabase,
  NO_POSTGRES_REASON,
  POSTGRES_BIN,
  startPrivateServer,
  type TestDatabase,
} from "./postgres-server.ts";

/**
 * Where a test that only terminates connections runs: a database of its own on the server
 * DATABASE_URL names (the shared local PostgreSQL, as in CI), else on a private server.
 */
export type ConnectionFaultServer = {
  createDatabase(): Promise<TestDatabase>;
  close(): Promise<void>;
};

/** Why such a test cannot run here, or undefined when it can. */
export const CONNECTION_FAULT_SKIP =
  process.env.DATABASE_URL || POSTGRES_BIN !== undefined
    ? undefined
    : `DATABASE_URL is not set and ${NO_POSTGRES_REASON}`;

export async function connectionFaultServer(): Promise<ConnectionFaultServer> {
  const shared = process.env.DATABASE_URL;
  if (shared) {
    return { createDatabase: () => createTestDatabase(shared), close: async () => undefined };
  }
  if (POSTGRES_BIN === undefined) throw new Error(NO_POSTGRES_REASON);
  return startPrivateServer(POSTGRES_BIN);
}
