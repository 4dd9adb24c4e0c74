/** Numbers, times and durations as the pages show them. */

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

export function count(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : integer.format(value);
}

export function rate(value: number | null | undefined): string {
  return value === null || value === undefined ? "–" : decimal.format(value);
}

export function percent(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  const shown = value * 100;
  return `${shown > 0 && shown < 0.1 ? "<0.1" : decimal.format(shown)} %`;
}

export function milliseconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return "–";
  if (value >= 10_000) return `${decimal.format(value / 1000)} s`;
  return `${decimal.format(value)} ms`;
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60)
    return seconds % 60 === 0 ? `${minutes} min` : `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Local time, to the second: `2026-11-30 09:15:02`. */
export function dateTime(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return "–";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (iso === null || iso === undefined) return "never";
  const ms = now - new Date(iso).getTime();
  if (Number.isNaN(ms)) return iso;
  if (ms < 5_000) return "just now";
  return `${duration(ms)} ago`;
}

export function shortDigest(digest: string | null | undefined): string {
  return digest === null || digest === undefined ? "–" : digest.slice(0, 12);
}

/** For file names: `20261130-091502`. */
export function stamp(date = new Date()): string {
  return (
    `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}-` +
    `${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`
  );
}
