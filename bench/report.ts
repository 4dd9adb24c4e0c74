import { cpus, loadavg } from "node:os";

/** How the benchmarks print: plain aligned tables, and the machine's load alongside the figures. */

export type Cell = string | number;

export function printTable(title: string, header: readonly string[], rows: readonly Cell[][]) {
  const text = [header, ...rows].map((row) => row.map(String));
  const widths = header.map((_, i) => Math.max(...text.map((row) => (row[i] ?? "").length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  process.stdout.write(
    `\n${title}\n${line(text[0]!)}\n${widths.map((w) => "-".repeat(w)).join("  ")}\n` +
      `${text.slice(1).map(line).join("\n")}\n`,
  );
}

export function loadAverage(): string {
  const [one, five, fifteen] = loadavg().map((value) => value.toFixed(2));
  return `load average ${one} ${five} ${fifteen} (1/5/15 min, ${cpus().length} cores)`;
}

/** `value` with `digits` decimals; "n/a" for NaN or infinity. */
export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "n/a";
}

export function megabytes(mb: number): string {
  return `${mb.toFixed(0)} MB`;
}

/** A target of the summary: what was measured against its bound, and whether it holds. */
export type Verdict = {
  target: string;
  measured: string;
  /** "ratio 0.71 / ≥ 0.6" or "≤ 90 MB". */
  bound: string;
  pass: boolean;
};

export function atMost(target: string, value: number, limit: number, unit: string): Verdict {
  const digits = unit === "MB" ? 0 : 3;
  return {
    target,
    measured: `${fixed(value, digits)} ${unit}`,
    bound: `≤ ${limit} ${unit}`,
    pass: Number.isFinite(value) && value <= limit,
  };
}

export function atLeast(target: string, value: number, limit: number, unit: string): Verdict {
  return {
    target,
    measured: `${fixed(value, 0)} ${unit}`,
    bound: `≥ ${limit} ${unit}`,
    pass: Number.isFinite(value) && value >= limit,
  };
}

/** `value / reference` against a minimum ratio. */
export function ratioAtLeast(
  target: string,
  value: number,
  reference: number,
  minRatio: number,
  unit: string,
): Verdict {
  const ratio = value / reference;
  return {
    target,
    measured: `${fixed(value, 0)} vs ${fixed(reference, 0)} ${unit}`,
    bound: `ratio ${fixed(ratio, 2)} / ≥ ${minRatio}`,
    pass: Number.isFinite(ratio) && ratio >= minRatio,
  };
}

export function printVerdicts(title: string, verdicts: readonly Verdict[]): void {
  printTable(
    title,
    ["target", "measured", "ratio / limit", "result"],
    verdicts.map((v) => [v.target, v.measured, v.bound, v.pass ? "pass" : "FAIL"]),
  );
  const failed = verdicts.filter((v) => !v.pass).length;
  process.stdout.write(`${verdicts.length - failed} of ${verdicts.length} targets met\n`);
}
