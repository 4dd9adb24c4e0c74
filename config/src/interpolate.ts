/**
 * Compose-style interpolation of string values: `${VAR}`, `${VAR:-default}` (default when VAR is
 * unset or empty) and `$$` for a literal dollar sign. Only values are interpolated, never keys, and
 * the result is always a string, so a YAML number stays a number.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export type InterpolationResult = { ok: true; value: string } | { ok: false; message: string };

const VAR_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function interpolateString(text: string, env: Env): InterpolationResult {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== "$") {
      out += ch;
      i += 1;
      continue;
    }
    const next = text[i + 1];
    if (next === "$") {
      out += "$";
      i += 2;
      continue;
    }
    if (next !== "{") {
      out += ch;
      i += 1;
      continue;
    }
    const close = text.indexOf("}", i + 2);
    if (close < 0) return { ok: false, message: 'unterminated "${": expected "}"' };
    const body = text.slice(i + 2, close);
    const sep = body.indexOf(":-");
    const name = sep < 0 ? body : body.slice(0, sep);
    if (!VAR_NAME_RE.test(name)) {
      return { ok: false, message: `invalid variable name ${JSON.stringify(name)} in "\${...}"` };
    }
    const value = env[name];
    if (value !== undefined && (value !== "" || sep < 0)) {
      out += value;
    } else if (sep >= 0) {
      out += body.slice(sep + 2);
    } else {
      return { ok: false, message: `environment variable ${name} is not set and has no default` };
    }
    i = close + 1;
  }
  return { ok: true, value: out };
}

export type PathError = { path: (string | number)[]; message: string };

/** Returns a copy of `value` with every string interpolated; problems are appended to `errors`. */
export function interpolateTree(
  value: unknown,
  env: Env,
  errors: PathError[],
  path: (string | number)[] = [],
): unknown {
  if (typeof value === "string") {
    const result = interpolateString(value, env);
    if (result.ok) return result.value;
    errors.push({ path, message: result.message });
    return value;
  }
  if (Array.isArray(value)) {
    return value.map((item, index) => interpolateTree(item, env, errors, [...path, index]));
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      out[key] = interpolateTree(item, env, errors, [...path, key]);
    }
    return out;
  }
  return value;
}
