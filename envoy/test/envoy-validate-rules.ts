/**
 * The constraints Envoy's API declares with protoc-gen-validate (`[(validate.rules) = ...]`):
 * Envoy checks them on every configuration it loads and refuses one that breaks any. This is the
 * subset a static configuration meets in practice: required messages and oneofs, numeric and
 * duration ranges, string and byte lengths, prefixes, header-name/-value syntax, enum membership,
 * list and map sizes, Any type lists. Rules outside the subset (e.g. `email`, `hostname`,
 * timestamps) are not checked; `envoy --mode validate` checks everything.
 *
 * Semantics follow protoc-gen-validate: scalar rules apply to the field's value even when it is
 * unset (its default), unless `ignore_empty`; message, duration and Any rules apply only to a set
 * field, except `required`; a oneof member is checked only when it is the one set.
 */
import {
  getOption,
  hasOption,
  isMessage,
  toJson,
  type DescEnum,
  type DescExtension,
  type DescField,
  type DescMessage,
  type DescOneof,
  type FileRegistry,
  type Message,
} from "@bufbuild/protobuf";
import { isReflectMessage, reflect, type ReflectMessage } from "@bufbuild/protobuf/reflect";
import {
  anyUnpack,
  FeatureSet_FieldPresence,
  hasCustomJsonRepresentation,
  isWrapperDesc,
} from "@bufbuild/protobuf/wkt";
import type { Any } from "@bufbuild/protobuf/wkt";

export type RuleProblem = { path: string; message: string };

/** FieldRules (or one of its parts) in its proto JSON form, proto field names. */
type Rules = { [key: string]: unknown };
type Scalar = number | bigint | string | boolean | Uint8Array;

const NUMERIC_KINDS = [
  "float",
  "double",
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
] as const;

// protoc-gen-validate's well_known_regex patterns (strict, and the relaxed one for strict: false);
// control characters are what they exclude.
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
// eslint-disable-next-line no-control-regex
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// eslint-disable-next-line no-control-regex
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;

type Context = {
  registry: FileRegistry;
  problems: RuleProblem[];
  rulesOf: (field: DescField) => Rules | undefined;
  oneofRequired: (oneof: DescOneof) => boolean;
  messageSkipped: (desc: DescMessage) => boolean;
};

/** A rule operand for a message: rules come from proto JSON, so strings, numbers or booleans. */
function text(value: unknown): string {
  return typeof value === "string" ||
    typeof value === "number" ||
    typeof value === "bigint" ||
    typeof value === "boolean"
    ? String(value)
    : JSON.stringify(value);
}

function object(value: unknown): Rules | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Rules)
    : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Compares a field value with a rule bound given in proto JSON (64-bit bounds are strings). */
function compare(value: number | bigint, bound: unknown): number {
  if (typeof value === "bigint") {
    const other = BigInt(bound as string | number);
    return value < other ? -1 : value > other ? 1 : 0;
  }
  const other = Number(bound);
  return value < other ? -1 : value > other ? 1 : 0;
}

/** gt/gte/lt/lte with protoc-gen-validate's inverted ranges (lt below gt means "outside"). */
function rangeProblem(value: number | bigint, rules: Rules, show: (v: unknown) => string) {
  const lower = rules.gt ?? rules.gte;
  const upper = rules.lt ?? rules.lte;
  const aboveLower =
    lower === undefined ||
    (rules.gt !== undefined ? compare(value, rules.gt) > 0 : compare(value, rules.gte) >= 0);
  const belowUpper =
    upper === undefined ||
    (rules.lt !== undefined ? compare(value, rules.lt) < 0 : compare(value, rules.lte) <= 0);
  const lowerText = () =>
    rules.gt !== undefined ? `> ${show(rules.gt)}` : `>= ${show(rules.gte)}`;
  const upperText = () =>
    rules.lt !== undefined ? `< ${show(rules.lt)}` : `<= ${show(rules.lte)}`;
  if (lower !== undefined && upper !== undefined) {
    const inverted =
      typeof value === "bigint"
        ? BigInt(upper as string) < BigInt(lower as string)
        : Number(upper) < Number(lower);
    if (inverted) {
      return aboveLower || belowUpper ? undefined : `must be ${lowerText()} or ${upperText()}`;
    }
    return aboveLower && belowUpper ? undefined : `must be ${lowerText()} and ${upperText()}`;
  }
  if (!aboveLower) return `must be ${lowerText()}`;
  if (!belowUpper) return `must be ${upperText()}`;
  return undefined;
}

function membership(value: unknown, rules: Rules, equal: (a: unknown, b: unknown) => boolean) {
  if (rules.const !== undefined && !equal(value, rules.const))
    return `must equal ${text(rules.const)}`;
  const allowed = list(rules.in);
  if (allowed.length > 0 && !allowed.some((entry) => equal(value, entry))) {
    return `must be one of ${allowed.map(String).join(", ")}`;
  }
  if (list(rules.not_in).some((entry) => equal(value, entry))) return "is a value not allowed here";
  return undefined;
}

function numericEqual(a: unknown, b: unknown): boolean {
  return compare(a as number | bigint, b) === 0;
}

function checkString(value: string, rules: Rules): string | undefined {
  if (rules.ignore_empty === true && value === "") return undefined;
  const chars = [...value].length;
  const bytes = Buffer.byteLength(value, "utf8");
  const same = membership(value, rules, (a, b) => a === b);
  if (same !== undefined) return same;
  if (rules.len !== undefined && chars !== Number(rules.len))
    return `must be ${text(rules.len)} characters`;
  if (rules.min_len !== undefined && chars < Number(rules.min_len)) {
    return `must be at least ${text(rules.min_len)} characters (is ${chars})`;
  }
  if (rules.max_len !== undefined && chars > Number(rules.max_len)) {
    return `must be at most ${text(rules.max_len)} characters`;
  }
  if (rules.len_bytes !== undefined && bytes !== Number(rules.len_bytes))
    return "has the wrong byte length";
  if (rules.min_bytes !== undefined && bytes < Number(rules.min_bytes)) {
    return `must be at least ${text(rules.min_bytes)} bytes`;
  }
  if (rules.max_bytes !== undefined && bytes > Number(rules.max_bytes)) {
    return `must be at most ${text(rules.max_bytes)} bytes`;
  }
  if (typeof rules.prefix === "string" && !value.startsWith(rules.prefix))
    return `must start with ${rules.prefix}`;
  if (typeof rules.suffix === "string" && !value.endsWith(rules.suffix))
    return `must end with ${rules.suffix}`;
  if (typeof rules.contains === "string" && !value.includes(rules.contains))
    return `must contain ${rules.contains}`;
  if (typeof rules.not_contains === "string" && value.includes(rules.not_contains)) {
    return `must not contain ${rules.not_contains}`;
  }
  if (typeof rules.pattern === "string") {
    let pattern: RegExp | undefined;
    try {
      pattern = new RegExp(rules.pattern, "u");
    } catch {
      pattern = undefined; // RE2 syntax JavaScript does not share: left to Envoy.
    }
    if (pattern !== undefined && !pattern.test(value)) return `must match ${rules.pattern}`;
  }
  const strict = rules.strict !== false;
  if (rules.well_known_regex === "HTTP_HEADER_NAME") {
    if (!(strict ? HEADER_NAME : HEADER_LOOSE).test(value))
      return "must be a valid HTTP header name";
  }
  if (rules.well_known_regex === "HTTP_HEADER_VALUE") {
    if (!(strict ? HEADER_VALUE : HEADER_LOOSE).test(value))
      return "must be a valid HTTP header value";
  }
  return undefined;
}

function checkScalar(
  value: Scalar,
  rules: Rules,
  enumDesc: DescEnum | undefined,
): string | undefined {
  for (const kind of NUMERIC_KINDS) {
    const numeric = object(rules[kind]);
    if (numeric === undefined || (typeof value !== "number" && typeof value !== "bigint")) continue;
    if (numeric.ignore_empty === true && (value === 0 || value === BigInt(0))) return undefined;
    return membership(value, numeric, numericEqual) ?? rangeProblem(value, numeric, String);
  }
  const bool = object(rules.bool);
  if (bool?.const !== undefined && value !== bool.const) return `must be ${text(bool.const)}`;
  const string = object(rules.string);
  if (string !== undefined && typeof value === "string") return checkString(value, string);
  const bytes = object(rules.bytes);
  if (bytes !== undefined && value instanceof Uint8Array) {
    if (bytes.ignore_empty === true && value.length === 0) return undefined;
    if (bytes.min_len !== undefined && value.length < Number(bytes.min_len)) return "is too short";
    if (bytes.max_len !== undefined && value.length > Number(bytes.max_len)) return "is too long";
    if (bytes.len !== undefined && value.length !== Number(bytes.len))
      return "has the wrong length";
  }
  const enumRules = object(rules.enum);
  if (enumRules !== undefined && typeof value === "number" && enumDesc !== undefined) {
    const name = enumDesc.values.find((entry) => entry.number === value)?.name;
    if (enumRules.defined_only === true && name === undefined)
      return `${value} is not a value of ${enumDesc.typeName}`;
    // Enum rule lists hold numbers.
    return membership(value, enumRules, (a, b) => Number(a) === Number(b));
  }
  return undefined;
}

/** A google.protobuf.Duration as nanoseconds, from the message or from its JSON form ("1.5s"). */
function durationNanos(value: unknown): bigint {
  if (isReflectMessage(value)) {
    const seconds = value.get(value.desc.field.seconds!) as bigint;
    const nanos = value.get(value.desc.field.nanos!) as number;
    return seconds * BigInt(1e9) + BigInt(nanos);
  }
  const match = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(String(value));
  if (match === null) return BigInt(0);
  const sign = match[1] === "-" ? BigInt(-1) : BigInt(1);
  const fraction = BigInt((match[3] ?? "").padEnd(9, "0"));
  return sign * (BigInt(match[2]!) * BigInt(1e9) + fraction);
}

function checkDuration(value: ReflectMessage, rules: Rules): string | undefined {
  const nanos = durationNanos(value);
  const bounds: Rules = {};
  for (const key of ["const", "lt", "lte", "gt", "gte"] as const) {
    if (rules[key] !== undefined) bounds[key] = durationNanos(rules[key]).toString();
  }
  bounds.in = list(rules.in).map((entry) => durationNanos(entry).toString());
  bounds.not_in = list(rules.not_in).map((entry) => durationNanos(entry).toString());
  const seconds = (bound: unknown) => `${Number(BigInt(bound as string)) / 1e9}s`;
  return membership(nanos, bounds, numericEqual) ?? rangeProblem(nanos, bounds, seconds);
}

class RuleWalk {
  private readonly ctx: Context;

  constructor(ctx: Context) {
    this.ctx = ctx;
  }

  problem(path: string, message: string): void {
    this.ctx.problems.push({ path, message });
  }

  message(value: ReflectMessage, path: string): void {
    if (this.ctx.messageSkipped(value.desc) || hasCustomJsonRepresentation(value.desc)) return;
    for (const oneof of value.desc.oneofs) {
      if (this.ctx.oneofRequired(oneof) && value.oneofCase(oneof) === undefined) {
        const names = oneof.fields.map((field) => field.name).join(", ");
        this.problem(path || "(root)", `one of ${names} is required (oneof ${oneof.name})`);
      }
    }
    for (const field of value.desc.fields) {
      if (field.oneof !== undefined && value.oneofCase(field.oneof) !== field) continue;
      const here = path === "" ? field.name : `${path}.${field.name}`;
      this.field(value, field, this.ctx.rulesOf(field), here);
    }
  }

  field(owner: ReflectMessage, field: DescField, rules: Rules | undefined, path: string): void {
    switch (field.fieldKind) {
      case "scalar":
      case "enum": {
        if (rules === undefined) return;
        // A proto3 `optional` scalar is checked only when set, like a message.
        if (field.presence !== FeatureSet_FieldPresence.IMPLICIT && !owner.isSet(field)) return;
        const current: unknown = owner.get(field);
        const problem = checkScalar(
          current as Scalar,
          rules,
          field.fieldKind === "enum" ? field.enum : undefined,
        );
        if (problem !== undefined) this.problem(path, problem);
        return;
      }
      case "message": {
        const set = owner.isSet(field);
        const value = owner.get(field);
        this.singularMessage(set ? value : undefined, field.message, rules, path);
        return;
      }
      case "list": {
        const items = owner.get(field);
        const repeated = object(rules?.repeated);
        if (repeated !== undefined && !(repeated.ignore_empty === true && items.size === 0)) {
          if (repeated.min_items !== undefined && items.size < Number(repeated.min_items)) {
            this.problem(path, `needs at least ${text(repeated.min_items)} item(s)`);
          }
          if (repeated.max_items !== undefined && items.size > Number(repeated.max_items)) {
            this.problem(path, `takes at most ${text(repeated.max_items)} item(s)`);
          }
          if (repeated.unique === true && field.listKind !== "message") {
            const seen = new Set([...items].map(String));
            if (seen.size !== items.size) this.problem(path, "items must be unique");
          }
        }
        const itemRules = object(repeated?.items);
        let index = 0;
        for (const item of items) {
          const here = `${path}[${index}]`;
          index += 1;
          if (field.listKind === "message") {
            this.singularMessage(item as ReflectMessage, field.message, itemRules, here);
          } else if (itemRules !== undefined) {
            const enumDesc = field.listKind === "enum" ? field.enum : undefined;
            const problem = checkScalar(item as Scalar, itemRules, enumDesc);
            if (problem !== undefined) this.problem(here, problem);
          }
        }
        return;
      }
      case "map": {
        const entries = owner.get(field);
        const map = object(rules?.map);
        if (map !== undefined && !(map.ignore_empty === true && entries.size === 0)) {
          if (map.min_pairs !== undefined && entries.size < Number(map.min_pairs)) {
            this.problem(path, `needs at least ${text(map.min_pairs)} entr(ies)`);
          }
          if (map.max_pairs !== undefined && entries.size > Number(map.max_pairs)) {
            this.problem(path, `takes at most ${text(map.max_pairs)} entr(ies)`);
          }
        }
        const keyRules = object(map?.keys);
        const valueRules = object(map?.values);
        for (const [key, item] of entries) {
          const here = `${path}[${JSON.stringify(String(key))}]`;
          if (keyRules !== undefined) {
            const problem = checkScalar(key as Scalar, keyRules, undefined);
            if (problem !== undefined) this.problem(here, `key ${problem}`);
          }
          if (field.mapKind === "message") {
            this.singularMessage(item as ReflectMessage, field.message, valueRules, here);
          } else if (valueRules !== undefined) {
            const enumDesc = field.mapKind === "enum" ? field.enum : undefined;
            const problem = checkScalar(item as Scalar, valueRules, enumDesc);
            if (problem !== undefined) this.problem(here, problem);
          }
        }
        return;
      }
    }
  }

  /** A message-typed value (field, list item or map value); undefined when not set. */
  singularMessage(
    value: ReflectMessage | undefined,
    desc: DescMessage,
    rules: Rules | undefined,
    path: string,
  ): void {
    const messageRules = object(rules?.message);
    const durationRules = object(rules?.duration);
    const anyRules = object(rules?.any);
    if (value === undefined) {
      if (
        messageRules?.required === true ||
        durationRules?.required === true ||
        anyRules?.required === true
      ) {
        this.problem(path, "is required");
      }
      return;
    }
    if (durationRules !== undefined && desc.typeName === "google.protobuf.Duration") {
      const problem = checkDuration(value, durationRules);
      if (problem !== undefined) this.problem(path, problem);
    }
    if (isWrapperDesc(desc) && rules !== undefined) {
      // Rules on a wrapper field constrain the wrapped value when there is one.
      const wrapped: unknown = value.get(desc.fields[0]);
      const problem = checkScalar(wrapped as Scalar, rules, undefined);
      if (problem !== undefined) this.problem(path, problem);
    }
    if (desc.typeName === "google.protobuf.Any") {
      const any = value.message as Any;
      if (anyRules !== undefined) {
        const allowed = list(anyRules.in);
        if (allowed.length > 0 && !allowed.includes(any.typeUrl))
          this.problem(path, `type must be one of ${allowed.join(", ")}`);
        if (list(anyRules.not_in).includes(any.typeUrl))
          this.problem(path, `type ${any.typeUrl} is not allowed here`);
      }
      if (messageRules?.skip === true) return;
      const inner = anyUnpack(any, this.ctx.registry);
      if (inner !== undefined && isMessage(inner)) {
        const innerDesc = this.ctx.registry.getMessage(inner.$typeName);
        if (innerDesc !== undefined) this.message(reflect(innerDesc, inner), path);
      }
      return;
    }
    if (messageRules?.skip === true) return;
    this.message(value, path);
  }
}

/** Every constraint of the subset that `message` (of type `desc`) breaks, with its path. */
export function validateRules(
  registry: FileRegistry,
  desc: DescMessage,
  message: Message,
): RuleProblem[] {
  const rulesExtension = registry.getExtension("validate.rules");
  const requiredExtension = registry.getExtension("validate.required");
  const disabledExtension = registry.getExtension("validate.disabled");
  const ignoredExtension = registry.getExtension("validate.ignored");
  const fieldRules = registry.getMessage("validate.FieldRules");
  if (rulesExtension === undefined || fieldRules === undefined) {
    throw new Error("the descriptor set lacks validate/validate.proto");
  }
  const cache = new Map<DescField, Rules | undefined>();
  const option = (element: unknown, extension: DescExtension | undefined): unknown => {
    if (extension === undefined) return undefined;
    // The options are typed per extension in generated code; these come from the registry.
    const read = element as Parameters<typeof hasOption>[0];
    return hasOption(read, extension) ? getOption(read, extension) : undefined;
  };
  const ctx: Context = {
    registry,
    problems: [],
    rulesOf(field) {
      if (!cache.has(field)) {
        const value = option(field, rulesExtension);
        cache.set(
          field,
          value === undefined
            ? undefined
            : object(toJson(fieldRules, value as Message, { useProtoFieldName: true })),
        );
      }
      return cache.get(field);
    },
    oneofRequired: (oneof) => option(oneof, requiredExtension) === true,
    messageSkipped: (messageDesc) =>
      option(messageDesc, disabledExtension) === true ||
      option(messageDesc, ignoredExtension) === true,
  };
  new RuleWalk(ctx).message(reflect(desc, message), "");
  return ctx.problems;
}
