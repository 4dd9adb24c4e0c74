import { databaseOptionsFromEnv, openDatabase, type Database } from "./open-database.ts";

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The frame of a store command-line tool: opens the database the environment selects, says which
 * one through `announce`, runs `work` and always closes. Returns the process exit code.
 */
export async function runWithDatabase(
  work: (database: Database) => Promise<number>,
  options: {
    announce: (line: string) => void;
    /** A clearer message for errors it knows; others are shown as they are. */
    explainError?: (error: unknown) => string | undefined;
  },
): Promise<number> {
  const databaseOptions = databaseOptionsFromEnv(process.env);
  let database: Database;
  try {
    database = await openDatabase(databaseOptions);
  } catch (error) {
    console.error(errorMessage(error));
    return 1;
  }
  options.announce(
    `database: ${database.dialect === "postgres" ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${databaseOptions.dataDir}`}`,
  );
  try {
    return await work(database);
  } catch (error) {
    console.error(options.explainError?.(error) ?? errorMessage(error));
    return 1;
  } finally {
    await database.close();
  }
}
