import { readFileSync } from "node:fs";
import path from "node:path";
import { parseEnv } from "node:util";
import { EnvError } from "../config/src/env.ts";

/**
 * `.env` for the local commands (`npm start`, `npm run token`), read with Node's own parser. The
 * real environment wins over the file, as with `node --env-file`, so a one-off `PORT=9000 npm
 * start` still works with a `.env` in place.
 */

export type DotEnv = { file: string; variables: Readonly<Record<string, string>> };

/** The variables of `<dir>/.env`; undefined when there is no such file. */
export function readDotEnv(dir: string): DotEnv | undefined {
  const file = path.resolve(dir, ".env");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new EnvError([`.env: cannot read ${file} (${(error as NodeJS.ErrnoException).code})`]);
  }
  const variables: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined) variables[name] = value;
  }
  return { file, variables };
}

/** Sets the file's variables that `target` does not have; returns the names it set. */
export function applyDotEnv(
  target: Record<string, string | undefined>,
  variables: Readonly<Record<string, string>>,
): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(variables)) {
    if (target[name] !== undefined) continue;
    target[name] = value;
    applied.push(name);
  }
  return applied;
}

/** Loads `./.env` into process.env; returns what it did, for the start-up banner. */
export function loadDotEnv(dir = process.cwd()): { file: string; applied: string[] } | undefined {
  const dotEnv = readDotEnv(dir);
  if (dotEnv === undefined) return undefined;
  return { file: dotEnv.file, applied: applyDotEnv(process.env, dotEnv.variables) };
}
