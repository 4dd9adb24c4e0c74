/**
 * Prints the coverage of the last `npm run test:coverage` per source folder, from the json-summary
 * report vitest wrote (coverage/coverage-summary.json): one line a folder instead of one a file.
 *
 *   npx tsx test/coverage-by-folder.ts [coverage/coverage-summary.json]
 */
import { readFileSync } from "node:fs";
import path from "node:path";

type Metric = { total: number; covered: number };
type FileSummary = Record<"lines" | "branches" | "functions" | "statements", Metric>;

const METRICS = ["lines", "branches", "functions", "statements"] as const;

function main(): void {
  const file = process.argv[2] ?? path.join("coverage", "coverage-summary.json");
  let summary: Record<string, FileSummary>;
  try {
    summary = JSON.parse(readFileSync(file, "utf8")) as Record<string, FileSummary>;
  } catch (error) {
    console.error(`cannot read ${file}: ${(error as Error).message}`);
    process.exit(2);
  }
  const root = process.cwd();
  const folders = new Map<string, { files: number } & FileSummary>();
  for (const [name, metrics] of Object.entries(summary)) {
    if (name === "total") continue;
    const folder = path.dirname(path.relative(root, name));
    const entry = folders.get(folder) ?? {
      files: 0,
      ...(Object.fromEntries(METRICS.map((m) => [m, { total: 0, covered: 0 }])) as FileSummary),
    };
    entry.files += 1;
    for (const m of METRICS) {
      entry[m].total += metrics[m].total;
      entry[m].covered += metrics[m].covered;
    }
    folders.set(folder, entry);
  }
  const percent = ({ total, covered }: Metric) =>
    total === 0 ? "-" : ((100 * covered) / total).toFixed(1);
  const rows = [...folders].sort(([a], [b]) => a.localeCompare(b));
  const width = Math.max(6, ...rows.map(([folder]) => folder.length));
  console.log(`${"folder".padEnd(width)}  files  ${METRICS.map((m) => m.padStart(11)).join("")}`);
  for (const [folder, entry] of rows) {
    const cells = METRICS.map((m) => percent(entry[m]).padStart(11)).join("");
    console.log(`${folder.padEnd(width)}  ${String(entry.files).padStart(5)}  ${cells}`);
  }
  const total = summary.total;
  if (total !== undefined) {
    const cells = METRICS.map((m) => percent(total[m]).padStart(11)).join("");
    const files = rows.reduce((sum, [, entry]) => sum + entry.files, 0);
    console.log(`${"all".padEnd(width)}  ${String(files).padStart(5)}  ${cells}`);
  }
}

main();
