/**
 * Strict check of an Envoy configuration against Envoy 1.36's API, without an Envoy binary.
 *
 * Envoy reads YAML by converting it to JSON and parsing that with the proto3 JSON mapping, so a
 * proto JSON parser over Envoy's own descriptors (envoy/api/, vendored) sees what Envoy sees:
 * unknown fields, type URLs that name no message, enum names that do not exist and malformed
 * durations are errors. @bufbuild/protobuf does the parsing; the walk here only descends the
 * document beside it so that every problem names its place (`static_resources.clusters[1]...`),
 * and follows every google.protobuf.Any (`typed_config`, `typed_per_filter_config`,
 * `typed_extension_protocol_options`, ...) into the message its `@type` names.
 */
import { readFileSync } from "node:fs";
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  type DescField,
  type DescMessage,
  type FileRegistry,
  type JsonValue,
  type Message,
} from "@bufbuild/protobuf";
import { FileDescriptorSetSchema, hasCustomJsonRepresentation } from "@bufbuild/protobuf/wkt";
import { parse } from "yaml";
import { validateRules, type RuleProblem } from "./envoy-validate-rules.ts";

export const BOOTSTRAP = "envoy.config.bootstrap.v3.Bootstrap";
const ANY = "google.protobuf.Any";

export type EnvoyApi = {
  registry: FileRegistry;
  /** Messages the descriptor set has but the envoyproxy/envoy image cannot load, and why. */
  unavailable: ReadonlyMap<string, string>;
};

export type Problem = { path: string; message: string };

export type CheckResult = {
  /** Anything Envoy would refuse: unknown fields and types, bad values, broken constraints. */
  problems: Problem[];
  /** Fields and enum values the API marks deprecated (Envoy warns, and may stop accepting them). */
  deprecated: string[];
};

let cached: EnvoyApi | undefined;

/** Loads envoy/api/ once: the descriptor set and the list of types the image lacks. */
export function loadEnvoyApi(): EnvoyApi {
  if (cached !== undefined) return cached;
  const bytes = readFileSync(new URL("../api/envoy-1.36-all.pb", import.meta.url));
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const lists = JSON.parse(
    readFileSync(new URL("../api/unavailable-types-1.36.json", import.meta.url), "utf8"),
  ) as { contrib_types: string[]; not_built: Record<string, string> };
  const unavailable = new Map<string, string>();
  for (const type of lists.contrib_types) {
    unavailable.set(type, "contrib extension: only the envoyproxy/envoy-contrib image has it");
  }
  for (const [type, name] of Object.entries(lists.not_built)) {
    unavailable.set(type, `extension ${name} is not built into Envoy 1.36`);
  }
  cached = { registry, unavailable };
  return cached;
}

/**
 * YAML as Envoy reads it: YAML 1.2 core schema, duplicate keys refused, and no merge keys
 * (Envoy's YAML library does not expand `<<`, so one would arrive as an unknown field).
 */
export function parseEnvoyYaml(text: string): JsonValue {
  return parse(text, { merge: false, uniqueKeys: true, strict: true }) as JsonValue;
}

type Walk = { api: EnvoyApi; problems: Problem[]; deprecated: string[] };

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Parses one field of `parent` with the library's rules (scalars, enums, well-known types). */
function parseField(walk: Walk, parent: DescMessage, key: string, value: JsonValue, at: string) {
  try {
    fromJson(parent, { [key]: value }, { registry: walk.api.registry });
  } catch (error) {
    walk.problems.push({ path: at, message: describe(error) });
  }
}

function fieldFor(desc: DescMessage, key: string): DescField | undefined {
  // The proto JSON mapping accepts the field's proto name (snake_case, what Envoy documents)
  // and its lowerCamel JSON name.
  return desc.fields.find((field) => field.name === key || field.jsonName === key);
}

function walkMessage(walk: Walk, desc: DescMessage, value: JsonValue, at: string): void {
  if (desc.typeName === ANY) {
    walkAny(walk, value, at);
    return;
  }
  if (hasCustomJsonRepresentation(desc)) {
    // Duration, Struct, wrappers, ...: their JSON form is not an object of fields.
    try {
      fromJson(desc, value, { registry: walk.api.registry });
    } catch (error) {
      walk.problems.push({ path: at, message: describe(error) });
    }
    return;
  }
  if (!isObject(value)) {
    walk.problems.push({ path: at, message: `expected an object (${desc.typeName})` });
    return;
  }
  const oneofs = new Map<string, string>();
  for (const [key, child] of Object.entries(value)) {
    const here = at === "" ? key : `${at}.${key}`;
    const field = fieldFor(desc, key);
    if (field === undefined) {
      walk.problems.push({ path: here, message: `unknown field of ${desc.typeName}` });
      continue;
    }
    if (field.deprecated) walk.deprecated.push(here);
    if (field.oneof !== undefined && child !== null) {
      const other = oneofs.get(field.oneof.name);
      if (other !== undefined) {
        walk.problems.push({
          path: here,
          message: `${other} and ${key} are both set, but oneof ${field.oneof.name} takes one`,
        });
      }
      oneofs.set(field.oneof.name, key);
    }
    walkField(walk, desc, field, key, child, here);
  }
}

function walkField(
  walk: Walk,
  parent: DescMessage,
  field: DescField,
  key: string,
  value: JsonValue,
  at: string,
): void {
  if (value === null) {
    parseField(walk, parent, key, value, at);
    return;
  }
  switch (field.fieldKind) {
    case "scalar":
      parseField(walk, parent, key, value, at);
      return;
    case "enum":
      parseField(walk, parent, key, value, at);
      noteDeprecatedEnum(walk, field.enum.values, value, at);
      return;
    case "message":
      walkMessage(walk, field.message, value, at);
      return;
    case "list":
      if (!Array.isArray(value)) {
        walk.problems.push({ path: at, message: `expected a list (${field.toString()})` });
        return;
      }
      value.forEach((item, index) => {
        const here = `${at}[${index}]`;
        if (field.listKind === "message") walkMessage(walk, field.message, item, here);
        else parseField(walk, parent, key, [item], here);
        if (field.listKind === "enum") noteDeprecatedEnum(walk, field.enum.values, item, here);
      });
      return;
    case "map":
      if (!isObject(value)) {
        walk.problems.push({ path: at, message: `expected a map (${field.toString()})` });
        return;
      }
      for (const [mapKey, item] of Object.entries(value)) {
        const here = `${at}[${JSON.stringify(mapKey)}]`;
        if (field.mapKind === "message") walkMessage(walk, field.message, item, here);
        else parseField(walk, parent, key, { [mapKey]: item }, here);
      }
      return;
  }
}

function noteDeprecatedEnum(
  walk: Walk,
  values: readonly { name: string; number: number; deprecated: boolean }[],
  value: JsonValue,
  at: string,
): void {
  const entry = values.find((candidate) => candidate.name === value || candidate.number === value);
  if (entry?.deprecated) walk.deprecated.push(`${at} = ${entry.name}`);
}

/** An Any is checked as the message its `@type` names, with the remaining keys as its fields. */
function walkAny(walk: Walk, value: JsonValue, at: string): void {
  const typeAt = `${at}["@type"]`;
  if (!isObject(value)) {
    walk.problems.push({
      path: at,
      message: "expected an object with @type (google.protobuf.Any)",
    });
    return;
  }
  const url = value["@type"];
  if (typeof url !== "string" || !url.includes("/")) {
    walk.problems.push({ path: typeAt, message: "missing or malformed type URL" });
    return;
  }
  const typeName = url.slice(url.lastIndexOf("/") + 1);
  const desc = walk.api.registry.getMessage(typeName);
  if (desc === undefined) {
    walk.problems.push({ path: typeAt, message: `unknown type ${url}: not in Envoy 1.36's API` });
    return;
  }
  const unavailable = walk.api.unavailable.get(typeName);
  if (unavailable !== undefined) {
    walk.problems.push({ path: typeAt, message: `${typeName}: ${unavailable}` });
  }
  if (hasCustomJsonRepresentation(desc)) {
    // `{"@type": ".../google.protobuf.Duration", "value": "1s"}`: the library knows the form.
    try {
      fromJson(walk.api.registry.getMessage(ANY)!, value, { registry: walk.api.registry });
    } catch (error) {
      walk.problems.push({ path: at, message: describe(error) });
    }
    return;
  }
  const fields = Object.fromEntries(Object.entries(value).filter(([key]) => key !== "@type"));
  walkMessage(walk, desc, fields, at);
}

/**
 * Checks a parsed document as an instance of `rootType`. Without a structural problem it is also
 * parsed whole by the library (which must agree) and then checked against the constraints the
 * API declares with protoc-gen-validate annotations (required fields, ranges, lengths).
 */
export function checkEnvoyDocument(
  document: JsonValue,
  rootType: string = BOOTSTRAP,
  api: EnvoyApi = loadEnvoyApi(),
): CheckResult {
  const root = api.registry.getMessage(rootType);
  if (root === undefined) throw new Error(`${rootType} is not in the Envoy API`);
  const walk: Walk = { api, problems: [], deprecated: [] };
  walkMessage(walk, root, document, "");
  if (walk.problems.length > 0) return { problems: walk.problems, deprecated: walk.deprecated };
  let message: Message;
  try {
    message = fromJson(root, document, { registry: api.registry });
  } catch (error) {
    return { problems: [{ path: "(document)", message: describe(error) }], deprecated: [] };
  }
  const ruleProblems: RuleProblem[] = validateRules(api.registry, root, message);
  return { problems: ruleProblems, deprecated: walk.deprecated };
}

/** checkEnvoyDocument for YAML text; a YAML syntax error is a problem too. */
export function checkEnvoyYaml(text: string, rootType: string = BOOTSTRAP): CheckResult {
  let document: JsonValue;
  try {
    document = parseEnvoyYaml(text);
  } catch (error) {
    return { problems: [{ path: "(yaml)", message: describe(error) }], deprecated: [] };
  }
  return checkEnvoyDocument(document, rootType);
}
