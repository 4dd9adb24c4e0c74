import { decodeHeaderValue, encodeHeaderValue } from "./mcp-wire.ts";

/**
 * `Mcp-Param-{Name}` headers (2026-07-28, SEP-2243): a tool's inputSchema may mark an argument
 * with `x-mcp-header: "Name"`, and a client then mirrors that argument into the header so that
 * intermediaries can route on it. The gateway acts on the body, so a header that disagrees with
 * it is refused (HeaderMismatch), as for `Mcp-Name`.
 */

export const PARAM_HEADER_PREFIX = "mcp-param-";

export type ParamHeaderBinding = {
  /** The header's name suffix as the schema spells it (`Region` → `Mcp-Param-Region`). */
  name: string;
  /** Property names from the arguments object down to the value. */
  path: readonly string[];
};

// RFC 9110 §5.1 token: what may follow `Mcp-Param-` in a field name.
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_TYPES = new Set(["string", "integer", "number", "boolean"]);
// Nested objects are followed through `properties` only; an annotation anywhere else (items,
// composition, conditionals, $ref) is not statically reachable and is not enforced.
const MAX_DEPTH = 8;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The bindings an inputSchema declares. Annotations the specification makes invalid (not a token,
 * a non-primitive type, a name used twice regardless of case) bind nothing: a tool definition
 * that breaks the rule cannot make the gateway refuse calls that follow the body.
 */
export function paramHeaderBindings(inputSchema: unknown): ParamHeaderBinding[] {
  const found: ParamHeaderBinding[] = [];
  const walk = (schema: unknown, path: string[]): void => {
    if (!isRecord(schema) || !isRecord(schema.properties) || path.length >= MAX_DEPTH) return;
    for (const [key, property] of Object.entries(schema.properties)) {
      if (!isRecord(property)) continue;
      const name = property["x-mcp-header"];
      if (
        typeof name === "string" &&
        HTTP_TOKEN.test(name) &&
        typeof property.type === "string" &&
        HEADER_TYPES.has(property.type)
      ) {
        found.push({ name, path: [...path, key] });
      }
      walk(property, [...path, key]);
    }
  };
  walk(inputSchema, []);
  const counts = new Map<string, number>();
  for (const { name } of found) {
    counts.set(name.toLowerCase(), (counts.get(name.toLowerCase()) ?? 0) + 1);
  }
  return found.filter(({ name }) => counts.get(name.toLowerCase()) === 1);
}

function valueAt(args: unknown, path: readonly string[]): unknown {
  let value = args;
  for (const key of path) {
    if (!isRecord(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/**
 * The headers a client sends for a call's arguments (names lower-cased, values as
 * encodeHeaderValue writes them); an absent or null argument has none.
 */
export function paramHeaderValues(
  bindings: readonly ParamHeaderBinding[],
  args: unknown,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const binding of bindings) {
    const value = valueAt(args, binding.path);
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      continue;
    }
    headers[PARAM_HEADER_PREFIX + binding.name.toLowerCase()] = encodeHeaderValue(String(value));
  }
  return headers;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function agrees(header: string, value: unknown): boolean {
  if (typeof value === "string") return header === value;
  if (typeof value === "boolean") return header === String(value);
  // Numbers compare as numbers: "42.0" and 42 agree.
  if (typeof value === "number") return JSON_NUMBER.test(header) && Number(header) === value;
  return false;
}

/**
 * The first disagreement between the bindings and a call's arguments, as a detail for -32020, or
 * undefined when the headers mirror the body. `headers` are the request's, names lower-cased
 * (a repeated header arrives joined with ", " and so matches no single value).
 */
export function checkParamHeaders(
  bindings: readonly ParamHeaderBinding[],
  args: unknown,
  headers: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (const binding of bindings) {
    const field = `Mcp-Param-${binding.name}`;
    const raw = headers[PARAM_HEADER_PREFIX + binding.name.toLowerCase()];
    const value = valueAt(args, binding.path);
    const argument = `arguments.${binding.path.join(".")}`;
    // A null or absent argument has no header; one that is there anyway routes on nothing real.
    if (value === undefined || value === null) {
      if (raw !== undefined) return `${field} header is sent but ${argument} is absent`;
      continue;
    }
    if (raw === undefined) return `${field} header is required: ${argument} is set`;
    const decoded = decodeHeaderValue(raw);
    if (decoded === undefined) return `${field} header has an invalid base64 value`;
    if (!agrees(decoded, value)) return `${field} header does not match ${argument}`;
  }
  return undefined;
}
