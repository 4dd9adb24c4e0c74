import { migrateDown, migrateToLatest, migrationStatus, type MigrationStep } from "./migrate.ts";
import { databaseOptionsFromEnv, openDatabase, type Database } from "./open-database.ts";

const USAGE = "usage: npm run migrate -- up | down [--all] | status";

function printSteps(steps: readonly MigrationStep[]): void {
  if (steps.length === 0) console.log("nothing to do");
  for (const step of steps)
    console.log(`${step.direction.toLowerCase()} ${step.name}: ${step.status}`);
}

async function main(args: readonly string[]): Promise<number> {
  const [command, ...rest] = args;
  const all = rest.includes("--all");
  const unknown = rest.filter((arg) => arg !== "--all");
  if (
    unknown.length > 0 ||
    (all && command !== "down") ||
    !["up", "down", "status"].includes(command ?? "")
  ) {
    console.error(USAGE);
    return 2;
  }
  const options = databaseOptionsFromEnv(process.env);
  let database: Database;
  try {
    database = await openDatabase(options);
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
  console.log(
    `database: ${database.dialect === "postgres" ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${options.dataDir}`}`,
  );
  try {
    switch (command) {
      case "up":
        printSteps(await migrateToLatest(database.db));
        break;
      case "down":
        printSteps(await migrateDown(database.db, { all }));
        break;
      default:
        for (const state of await migrationStatus(database.db)) {
          console.log(
            `${state.executedAt ? `applied ${state.executedAt.toISOString()}` : "pending"}  ${state.name}`,
          );
        }
    }
    return 0;
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  } finally {
    await database.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
