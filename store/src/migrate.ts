import { Migrator, NO_MIGRATIONS, sql, type Kysely, type MigrationResult } from "kysely";
import { migrations } from "../../migrations/index.ts";

export type MigrationStep = {
  name: string;
  direction: "Up" | "Down";
  status: "Success" | "Error" | "NotExecuted";
};
export type MigrationState = { name: string; executedAt: Date | undefined };

export class MigrationError extends Error {
  readonly steps: readonly MigrationStep[];
  constructor(cause: unknown, steps: readonly MigrationStep[]) {
    const failed = steps.find((step) => step.status === "Error");
    super(
      `migration failed${failed ? ` at ${failed.name}` : ""}: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = "MigrationError";
    this.steps = steps;
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations run against any schema
type AnyKysely = Kysely<any>;

async function migrator(db: AnyKysely): Promise<Migrator> {
  // Without a schema Kysely takes a kysely_migration table in any schema of the database for its
  // own (another application's, or another gateway's under another search_path) and then fails
  // on the one it expected: its tables live where the gateway's do, in the current schema.
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  return new Migrator({
    db,
    provider: { getMigrations: async () => ({ ...migrations }) },
    migrationTableSchema: rows[0]!.schema,
  });
}

function steps(results: MigrationResult[] | undefined): MigrationStep[] {
  return (results ?? []).map(({ migrationName, direction, status }) => ({
    name: migrationName,
    direction,
    status,
  }));
}

function check(result: { error?: unknown; results?: MigrationResult[] }): MigrationStep[] {
  // Kysely reports failures in the result instead of throwing.
  if (result.error !== undefined) throw new MigrationError(result.error, steps(result.results));
  return steps(result.results);
}

/** Applies every pending migration; throws MigrationError on failure. Returns the steps run. */
export async function migrateToLatest(db: AnyKysely): Promise<MigrationStep[]> {
  return check(await (await migrator(db)).migrateToLatest());
}

/** Reverts one migration, or every migration with `{ all: true }`. */
export async function migrateDown(
  db: AnyKysely,
  options: { all?: boolean } = {},
): Promise<MigrationStep[]> {
  const m = await migrator(db);
  return check(options.all ? await m.migrateTo(NO_MIGRATIONS) : await m.migrateDown());
}

export async function migrationStatus(db: AnyKysely): Promise<MigrationState[]> {
  const list = await (await migrator(db)).getMigrations();
  return list.map((info) => ({ name: info.name, executedAt: info.executedAt }));
}
