import { parseArgs, type ParseArgsConfig } from "node:util";

/** Command-line parsing for the benchmarks: unknown options and bad values end the run at once. */

export class UsageError extends Error {
  override name = "UsageError";
}

export function parseOptions<T extends NonNullable<ParseArgsConfig["options"]>>(
  options: T,
  usage: string,
) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    exitWithUsage((error as Error).message, usage);
  }
}

/** A number within [min, max] (whole when `integer`), or undefined when the option was not given. */
export function numberOption(
  name: string,
  text: string | undefined,
  range: { min: number; max: number; integer?: boolean },
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  const whole = range.integer ?? true;
  if (
    text.trim() === "" ||
    !Number.isFinite(value) ||
    (whole && !Number.isInteger(value)) ||
    value < range.min ||
    value > range.max
  ) {
    throw new UsageError(
      `--${name} must be ${whole ? "a whole number" : "a number"} from ${range.min} to ${range.max} (got "${text}")`,
    );
  }
  return value;
}

export function choiceOption<C extends string>(
  name: string,
  text: string | undefined,
  choices: readonly C[],
): C | undefined {
  if (text === undefined) return undefined;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")} (got "${text}")`);
  }
  return text as C;
}

export function urlOption(name: string, text: string | undefined, protocols: readonly string[]) {
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--${name} must be a URL (got "${text}")`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new UsageError(`--${name} must be a ${protocols.join(" or ")} URL`);
  }
  return text;
}

export function exitWithUsage(message: string, usage: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}
