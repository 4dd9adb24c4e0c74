import { ensureAuditPartitions } from "./audit-partitions.ts";
import { migrateDown, migrateToLatest, migrationStatus, type MigrationStep } from "./migrate.ts";
import { runWithDatabase } from "./database-cli.ts";

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
  return runWithDatabase(
    async (database) => {
      switch (command) {
        case "up":
          printSteps(await migrateToLatest(database.db));
          for (const name of await ensureAuditPartitions(database.db)) {
            console.log(`created partition ${name}`);
          }
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
    },
    { announce: (line) => console.log(line) },
  );
}

process.exitCode = await main(process.argv.slice(2));
