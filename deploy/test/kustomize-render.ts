/**
 * A kustomize renderer for exactly the features deploy/kubernetes uses, so CI can render and check
 * every overlay without a kustomize or kubectl binary. Anything else in a kustomization.yaml is
 * refused (unknown field, JSON 6902 patch, generator behavior, …) rather than silently ignored:
 * the output must mean what `kubectl kustomize` prints. kubectl-parity.test.ts compares the two
 * wherever kubectl is installed.
 *
 * Supported: resources (files and directories), namespace, labels (without selectors),
 * configMapGenerator / secretGenerator (files, envs, literals), generatorOptions
 * (disableNameSuffixHash), patches (strategic merge, inline or from a file, by the patch's
 * kind+name or by a target selector; `$patch: delete` for a whole object or a list element),
 * images. Generated names get kustomize's content hash suffix and references to them in pod specs
 * are rewritten, as kustomize's name reference transformer does for these fields.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

export type JsonObject = { [key: string]: unknown };

export interface KubeObject extends JsonObject {
  apiVersion: string;
  kind: string;
  metadata: JsonObject & {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
  };
}

export interface RenderOptions {
  /** Absolute path → content, read instead of the disk (e.g. a gitignored env file). */
  files?: Readonly<Record<string, string>>;
}

interface Resource {
  object: KubeObject;
  /** The name before any hash suffix: what patches and references use. */
  originalName: string;
  /** Set for generator output: the name gets a content hash unless disabled. */
  hashSuffix?: boolean;
}

const KUSTOMIZATION_FIELDS = new Set([
  "apiVersion",
  "kind",
  "namespace",
  "labels",
  "resources",
  "configMapGenerator",
  "secretGenerator",
  "generatorOptions",
  "patches",
  "images",
]);
const GENERATOR_FIELDS = new Set(["name", "files", "envs", "literals", "type"]);
const CLUSTER_SCOPED_KINDS = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "CustomResourceDefinition",
  "PriorityClass",
  "StorageClass",
  "PersistentVolume",
]);
const POD_TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

export class KustomizeError extends Error {}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

class Reader {
  private readonly files: Readonly<Record<string, string>>;
  constructor(files: Readonly<Record<string, string>>) {
    this.files = files;
  }
  text(path: string): string {
    const virtual = this.files[path];
    if (virtual !== undefined) return virtual;
    if (!existsSync(path)) throw new KustomizeError(`${path}: no such file`);
    return readFileSync(path, "utf8");
  }
  isDirectory(path: string): boolean {
    return this.files[path] === undefined && existsSync(path) && statSync(path).isDirectory();
  }
}

function parseYamlDocuments(text: string, where: string): unknown[] {
  return parseAllDocuments(text).flatMap((document) => {
    if (document.errors.length > 0) {
      throw new KustomizeError(`${where}: ${document.errors.map((e) => e.message).join("; ")}`);
    }
    const value: unknown = document.toJS({ maxAliasCount: -1 });
    return value === null || value === undefined ? [] : [value];
  });
}

function asKubeObject(value: unknown, where: string): KubeObject {
  if (
    !isObject(value) ||
    typeof value.apiVersion !== "string" ||
    typeof value.kind !== "string" ||
    !isObject(value.metadata) ||
    typeof value.metadata.name !== "string"
  ) {
    throw new KustomizeError(`${where}: not a Kubernetes object (apiVersion, kind, metadata.name)`);
  }
  return value as KubeObject;
}

function stringList(value: unknown, where: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
    throw new KustomizeError(`${where}: expected a list of strings`);
  }
  return value as string[];
}

export function resourceId(object: KubeObject): string {
  return `${object.kind}/${object.metadata.namespace ?? "~"}/${object.metadata.name}`;
}

// ---------------------------------------------------------------- generators

/** kustomize's env-file rules for the subset used here: KEY=VALUE, # comments, blank lines. */
export function parseEnvFile(text: string, where: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const equals = line.indexOf("=");
    // A bare KEY would make kustomize read the variable from its own environment.
    if (equals <= 0) throw new KustomizeError(`${where}:${index + 1}: expected KEY=VALUE`);
    const value = line.slice(equals + 1);
    if (/^["']/.test(value)) {
      throw new KustomizeError(`${where}:${index + 1}: quoted values are not supported here`);
    }
    pairs.push([line.slice(0, equals), value]);
  }
  return pairs;
}

function generatorData(
  generator: JsonObject,
  dir: string,
  reader: Reader,
  where: string,
): Map<string, string> {
  const data = new Map<string, string>();
  const add = (key: string, value: string) => {
    if (data.has(key)) throw new KustomizeError(`${where}: key ${key} twice`);
    data.set(key, value);
  };
  for (const entry of stringList(generator.files, `${where}.files`)) {
    const equals = entry.indexOf("=");
    const [key, path] =
      equals > 0 ? [entry.slice(0, equals), entry.slice(equals + 1)] : [basename(entry), entry];
    const full = resolve(dir, path);
    if (!full.startsWith(`${dir}/`)) {
      throw new KustomizeError(`${where}: ${entry} is outside ${dir} (load restrictor)`);
    }
    add(key, reader.text(full));
  }
  for (const entry of stringList(generator.envs, `${where}.envs`)) {
    const full = resolve(dir, entry);
    for (const [key, value] of parseEnvFile(reader.text(full), full)) add(key, value);
  }
  for (const entry of stringList(generator.literals, `${where}.literals`)) {
    const equals = entry.indexOf("=");
    if (equals <= 0) throw new KustomizeError(`${where}: literal ${entry} is not KEY=VALUE`);
    add(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return data;
}

/**
 * kustomize wraps a secret's base64 at 70 columns, a newline after every line once there is more
 * than one (the API server's decoder skips newlines). The content hash covers this exact text.
 */
export function kustomizeBase64(value: string): string {
  const encoded = Buffer.from(value, "utf8").toString("base64");
  const lineLength = 70;
  if (Math.floor(encoded.length / lineLength) + 1 <= 1) return encoded;
  let out = "";
  for (let i = 0; i < encoded.length; i += lineLength)
    out += `${encoded.slice(i, i + lineLength)}\n`;
  return out;
}

function sortedRecord(data: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...data].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function generate(
  kustomization: JsonObject,
  dir: string,
  reader: Reader,
  file: string,
): Resource[] {
  const options = kustomization.generatorOptions;
  let hashSuffix = true;
  if (options !== undefined) {
    if (!isObject(options) || Object.keys(options).some((k) => k !== "disableNameSuffixHash")) {
      throw new KustomizeError(`${file}: generatorOptions supports disableNameSuffixHash only`);
    }
    hashSuffix = options.disableNameSuffixHash !== true;
  }
  const out: Resource[] = [];
  for (const [field, kind] of [
    ["configMapGenerator", "ConfigMap"],
    ["secretGenerator", "Secret"],
  ] as const) {
    const generators = kustomization[field];
    if (generators === undefined) continue;
    if (!Array.isArray(generators)) throw new KustomizeError(`${file}: ${field} is not a list`);
    for (const [index, generator] of generators.entries()) {
      const where = `${file}: ${field}[${index}]`;
      if (!isObject(generator) || typeof generator.name !== "string") {
        throw new KustomizeError(`${where}: needs a name`);
      }
      const unknown = Object.keys(generator).filter((key) => !GENERATOR_FIELDS.has(key));
      if (unknown.length > 0)
        throw new KustomizeError(`${where}: unsupported ${unknown.join(", ")}`);
      if (kind === "ConfigMap" && generator.type !== undefined) {
        throw new KustomizeError(`${where}: type is for secrets`);
      }
      const data = sortedRecord(generatorData(generator, dir, reader, where));
      const object: KubeObject =
        kind === "ConfigMap"
          ? { apiVersion: "v1", kind, metadata: { name: generator.name }, data }
          : {
              apiVersion: "v1",
              kind,
              metadata: { name: generator.name },
              type: typeof generator.type === "string" ? generator.type : "Opaque",
              data: Object.fromEntries(
                Object.entries(data).map(([k, v]) => [k, kustomizeBase64(v)]),
              ),
            };
      out.push({ object, originalName: generator.name, hashSuffix });
    }
  }
  return out;
}

/** Go's encoding/json escapes these; kustomize hashes that encoding. */
function goJson(value: unknown): string {
  const sorted = (v: unknown): unknown =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sorted(v[k])]),
        )
      : Array.isArray(v)
        ? v.map(sorted)
        : v;
  return JSON.stringify(sorted(value))
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/**
 * kustomize's hasher: sha256 of the JSON of kind/name/data(/type), 10 hex chars, no vowels. The
 * name is empty when kustomize hashes generator output (checked against kubectl's kustomize).
 */
export function kustomizeHash(object: KubeObject): string {
  const encoded: JsonObject = { kind: object.kind, name: "", data: object.data ?? {} };
  if (object.kind === "Secret") encoded.type = object.type ?? "";
  if (object.kind === "ConfigMap" && object.binaryData !== undefined) {
    encoded.binaryData = object.binaryData;
  }
  const hex = createHash("sha256").update(goJson(encoded)).digest("hex");
  const substitutes: Record<string, string> = { "0": "g", "1": "h", "3": "k", a: "m", e: "t" };
  return [...hex.slice(0, 10)].map((c) => substitutes[c] ?? c).join("");
}

// ---------------------------------------------------------------- strategic merge patch

/** Merge keys of the Kubernetes list fields the overlays patch (k8s `patchMergeKey`). */
function mergeKeyFor(field: string | undefined, items: unknown[]): string | undefined {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return "name";
    case "volumeMounts":
      return "mountPath";
    case "ports":
      return items.some((item) => isObject(item) && "containerPort" in item)
        ? "containerPort"
        : "port";
    default:
      return undefined;
  }
}

function withoutDirectives(value: unknown, where: string): unknown {
  if (Array.isArray(value)) return value.map((item) => withoutDirectives(item, where));
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, item] of Object.entries(value)) {
    if (key.startsWith("$"))
      throw new KustomizeError(`${where}: directive ${key} not supported here`);
    if (item !== null) out[key] = withoutDirectives(item, where);
  }
  return out;
}

export function strategicMerge(
  base: unknown,
  patch: unknown,
  where: string,
  field?: string,
): unknown {
  if (isObject(base) && isObject(patch)) {
    const out: JsonObject = clone(base);
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith("$")) throw new KustomizeError(`${where}: directive ${key} not supported`);
      if (value === null) delete out[key];
      else if (key in out) out[key] = strategicMerge(out[key], value, `${where}.${key}`, key);
      else out[key] = withoutDirectives(value, where);
    }
    return out;
  }
  if (Array.isArray(base) && Array.isArray(patch)) {
    const key = mergeKeyFor(field, [...base, ...patch]);
    if (key === undefined) return withoutDirectives(patch, where);
    // kustomize's order (checked against kubectl): the patch's items first, in the patch's
    // order, merged into their base item; then the base items the patch does not mention.
    const out: unknown[] = [];
    const mentioned = new Set<unknown>();
    for (const item of patch) {
      if (!isObject(item) || item[key] === undefined) {
        throw new KustomizeError(`${where}: list item without merge key ${key}`);
      }
      mentioned.add(item[key]);
      if (item.$patch === "delete") continue;
      const existing = base.find(
        (candidate) => isObject(candidate) && candidate[key] === item[key],
      );
      out.push(
        existing === undefined
          ? withoutDirectives(item, where)
          : strategicMerge(existing, item, `${where}[${JSON.stringify(item[key])}]`),
      );
    }
    for (const item of base) {
      if (!isObject(item) || !mentioned.has(item[key])) out.push(clone(item));
    }
    return out;
  }
  return withoutDirectives(patch, where);
}

// ---------------------------------------------------------------- patches

interface PatchTarget {
  kind?: string;
  name?: string;
  labelSelector?: string;
}

function matchesLabelSelector(object: KubeObject, selector: string): boolean {
  const labels = object.metadata.labels ?? {};
  return selector.split(",").every((term) => {
    const [key, value] = term.split("=").map((part) => part.trim());
    if (key === undefined || value === undefined) {
      throw new KustomizeError(`labelSelector ${selector}: only key=value terms are supported`);
    }
    return labels[key] === value;
  });
}

function targetsOf(resources: Resource[], target: PatchTarget): Resource[] {
  return resources.filter(
    ({ object, originalName }) =>
      (target.kind === undefined || object.kind === target.kind) &&
      (target.name === undefined ||
        new RegExp(`^(?:${target.name})$`).test(object.metadata.name) ||
        new RegExp(`^(?:${target.name})$`).test(originalName)) &&
      (target.labelSelector === undefined || matchesLabelSelector(object, target.labelSelector)),
  );
}

function applyPatches(
  resources: Resource[],
  kustomization: JsonObject,
  dir: string,
  reader: Reader,
  file: string,
): Resource[] {
  const patches = kustomization.patches;
  if (patches === undefined) return resources;
  if (!Array.isArray(patches)) throw new KustomizeError(`${file}: patches is not a list`);
  let current = resources;
  for (const [index, entry] of patches.entries()) {
    const where = `${file}: patches[${index}]`;
    if (!isObject(entry)) throw new KustomizeError(`${where}: not an object`);
    const unknown = Object.keys(entry).filter((k) => !["path", "patch", "target"].includes(k));
    if (unknown.length > 0) throw new KustomizeError(`${where}: unsupported ${unknown.join(", ")}`);
    const text =
      typeof entry.path === "string"
        ? reader.text(resolve(dir, entry.path))
        : typeof entry.patch === "string"
          ? entry.patch
          : undefined;
    if (text === undefined) throw new KustomizeError(`${where}: needs path or patch`);
    const documents = parseYamlDocuments(text, where);
    if (documents.length > 1 && documents.some((d) => isObject(d) && d.$patch === "delete")) {
      // kubectl's kustomize (v5.5) crashes on this: one deleting patch per entry.
      throw new KustomizeError(`${where}: $patch: delete in a multi-document patch`);
    }
    for (const document of documents) {
      if (!isObject(document)) {
        throw new KustomizeError(`${where}: JSON 6902 patches are not supported by this renderer`);
      }
      const target: PatchTarget = isObject(entry.target)
        ? { ...entry.target }
        : {
            kind: String(document.kind),
            name: String((document.metadata as JsonObject | undefined)?.name),
          };
      if (isObject(entry.target)) {
        const extra = Object.keys(entry.target).filter(
          (k) => !["kind", "name", "labelSelector"].includes(k),
        );
        if (extra.length > 0) throw new KustomizeError(`${where}: target ${extra.join(", ")}`);
      } else if (target.name !== undefined) {
        // Without a target the name is literal, not a pattern.
        target.name = target.name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      }
      const matched = targetsOf(current, target);
      if (matched.length === 0) {
        throw new KustomizeError(`${where}: no resource matches ${JSON.stringify(target)}`);
      }
      if (document.$patch === "delete") {
        current = current.filter((resource) => !matched.includes(resource));
        continue;
      }
      for (const resource of matched) {
        const body = clone(document);
        // With a target the patch's own name and kind do not matter (kustomize sets them).
        if (isObject(body.metadata)) body.metadata.name = resource.object.metadata.name;
        body.kind = resource.object.kind;
        body.apiVersion = resource.object.apiVersion;
        resource.object = asKubeObject(
          strategicMerge(resource.object, body, `${where} → ${resource.object.metadata.name}`),
          where,
        );
      }
    }
  }
  return current;
}

// ---------------------------------------------------------------- transformers

/** The pod spec(s) of a workload: Pod, the template kinds, CronJob. */
export function podSpecsOf(object: KubeObject): JsonObject[] {
  const spec = object.spec;
  if (!isObject(spec)) return [];
  if (object.kind === "Pod") return [spec];
  if (POD_TEMPLATE_KINDS.has(object.kind)) {
    const template = spec.template;
    return isObject(template) && isObject(template.spec) ? [template.spec] : [];
  }
  if (object.kind === "CronJob" && isObject(spec.jobTemplate)) {
    const jobSpec = spec.jobTemplate.spec;
    if (isObject(jobSpec) && isObject(jobSpec.template) && isObject(jobSpec.template.spec)) {
      return [jobSpec.template.spec];
    }
  }
  return [];
}

export function containersOf(podSpec: JsonObject): JsonObject[] {
  return ["initContainers", "containers"].flatMap((field) =>
    Array.isArray(podSpec[field]) ? (podSpec[field] as unknown[]).filter(isObject) : [],
  );
}

function setLabels(resources: Resource[], kustomization: JsonObject, file: string): void {
  const entries = kustomization.labels;
  if (entries === undefined) return;
  if (!Array.isArray(entries)) throw new KustomizeError(`${file}: labels is not a list`);
  for (const entry of entries) {
    if (!isObject(entry) || !isObject(entry.pairs)) {
      throw new KustomizeError(`${file}: labels entries need pairs`);
    }
    if (entry.includeSelectors === true) {
      throw new KustomizeError(`${file}: labels.includeSelectors is not supported`);
    }
    const pairs = entry.pairs as Record<string, string>;
    for (const { object } of resources) {
      object.metadata.labels = { ...(object.metadata.labels ?? {}), ...pairs };
      if (entry.includeTemplates !== true || !isObject(object.spec)) continue;
      // kustomize's templateLabels field specs (checked against kubectl): a template kind's
      // spec.template; a CronJob's jobTemplate and the jobTemplate's pod template, each created
      // when absent.
      const templates: JsonObject[] = [];
      if (POD_TEMPLATE_KINDS.has(object.kind) && isObject(object.spec.template)) {
        templates.push(object.spec.template);
      } else if (object.kind === "CronJob" && isObject(object.spec.jobTemplate)) {
        const jobTemplate = object.spec.jobTemplate;
        templates.push(jobTemplate);
        if (isObject(jobTemplate.spec) && isObject(jobTemplate.spec.template)) {
          templates.push(jobTemplate.spec.template);
        }
      }
      for (const template of templates) {
        const metadata = isObject(template.metadata) ? template.metadata : {};
        metadata.labels = { ...(isObject(metadata.labels) ? metadata.labels : {}), ...pairs };
        template.metadata = metadata;
      }
    }
  }
}

function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf("@");
  const withoutDigest = at >= 0 ? image.slice(0, at) : image;
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const colon = withoutDigest.lastIndexOf(":");
  const hasTag = colon > withoutDigest.lastIndexOf("/");
  return {
    name: hasTag ? withoutDigest.slice(0, colon) : withoutDigest,
    ...(hasTag ? { tag: withoutDigest.slice(colon + 1) } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

function setImages(resources: Resource[], kustomization: JsonObject, file: string): void {
  const images = kustomization.images;
  if (images === undefined) return;
  if (!Array.isArray(images)) throw new KustomizeError(`${file}: images is not a list`);
  for (const rule of images) {
    if (!isObject(rule) || typeof rule.name !== "string") {
      throw new KustomizeError(`${file}: images entries need a name`);
    }
    const unknown = Object.keys(rule).filter(
      (k) => !["name", "newName", "newTag", "digest"].includes(k),
    );
    if (unknown.length > 0) throw new KustomizeError(`${file}: images ${unknown.join(", ")}`);
    for (const { object } of resources) {
      for (const container of podSpecsOf(object).flatMap(containersOf)) {
        if (typeof container.image !== "string") continue;
        const image = splitImage(container.image);
        if (image.name !== rule.name) continue;
        const name = typeof rule.newName === "string" ? rule.newName : image.name;
        const reference =
          typeof rule.digest === "string"
            ? `@${rule.digest}`
            : typeof rule.newTag === "string"
              ? `:${rule.newTag}`
              : `${image.tag === undefined ? "" : `:${image.tag}`}${image.digest === undefined ? "" : `@${image.digest}`}`;
        container.image = `${name}${reference}`;
      }
    }
  }
}

function setNamespace(resources: Resource[], namespace: unknown, file: string): void {
  if (namespace === undefined) return;
  if (typeof namespace !== "string") throw new KustomizeError(`${file}: namespace not a string`);
  for (const { object } of resources) {
    // kustomize renames a Namespace object to the kustomization's namespace.
    if (object.kind === "Namespace") object.metadata.name = namespace;
    else if (!CLUSTER_SCOPED_KINDS.has(object.kind)) object.metadata.namespace = namespace;
  }
}

// ---------------------------------------------------------------- name references

type Referenced = "ConfigMap" | "Secret";

/** A place in a pod spec that names a ConfigMap or Secret: `holder[field]` is the name. */
export interface PodSpecReference {
  kind: Referenced;
  holder: JsonObject;
  field: string;
  optional: boolean;
  /** The key, for env references. */
  key?: string;
}

/** Every place in a pod spec that names a ConfigMap or Secret. */
export function podSpecReferences(podSpec: JsonObject): PodSpecReference[] {
  const out: PodSpecReference[] = [];
  const volumes = Array.isArray(podSpec.volumes) ? podSpec.volumes.filter(isObject) : [];
  for (const volume of volumes) {
    if (isObject(volume.configMap)) {
      out.push({
        kind: "ConfigMap",
        holder: volume.configMap,
        field: "name",
        optional: volume.configMap.optional === true,
      });
    }
    if (isObject(volume.secret)) {
      out.push({
        kind: "Secret",
        holder: volume.secret,
        field: "secretName",
        optional: volume.secret.optional === true,
      });
    }
    if (isObject(volume.projected) && Array.isArray(volume.projected.sources)) {
      for (const source of volume.projected.sources.filter(isObject)) {
        if (isObject(source.configMap)) {
          out.push({
            kind: "ConfigMap",
            holder: source.configMap,
            field: "name",
            optional: source.configMap.optional === true,
          });
        }
        if (isObject(source.secret)) {
          out.push({
            kind: "Secret",
            holder: source.secret,
            field: "name",
            optional: source.secret.optional === true,
          });
        }
      }
    }
  }
  for (const container of containersOf(podSpec)) {
    for (const env of Array.isArray(container.env) ? container.env.filter(isObject) : []) {
      const from = env.valueFrom;
      if (!isObject(from)) continue;
      for (const [field, kind] of [
        ["configMapKeyRef", "ConfigMap"],
        ["secretKeyRef", "Secret"],
      ] as const) {
        const ref = from[field];
        if (isObject(ref)) {
          out.push({
            kind,
            holder: ref,
            field: "name",
            optional: ref.optional === true,
            key: String(ref.key),
          });
        }
      }
    }
    for (const source of Array.isArray(container.envFrom)
      ? container.envFrom.filter(isObject)
      : []) {
      for (const [field, kind] of [
        ["configMapRef", "ConfigMap"],
        ["secretRef", "Secret"],
      ] as const) {
        const ref = source[field];
        if (isObject(ref)) {
          out.push({ kind, holder: ref, field: "name", optional: ref.optional === true });
        }
      }
    }
  }
  const pullSecrets = Array.isArray(podSpec.imagePullSecrets)
    ? podSpec.imagePullSecrets.filter(isObject)
    : [];
  for (const secret of pullSecrets) {
    out.push({ kind: "Secret", holder: secret, field: "name", optional: false });
  }
  return out;
}

function finalizeGeneratedNames(resources: Resource[]): void {
  for (const generated of resources.filter((resource) => resource.hashSuffix === true)) {
    const { object, originalName } = generated;
    const renamed = `${originalName}-${kustomizeHash(object)}`;
    object.metadata.name = renamed;
    for (const { object: referrer } of resources) {
      if (referrer.metadata.namespace !== object.metadata.namespace) continue;
      for (const ref of podSpecsOf(referrer).flatMap(podSpecReferences)) {
        if (ref.kind === object.kind && ref.holder[ref.field] === originalName) {
          ref.holder[ref.field] = renamed;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- build

function readKustomization(dir: string, reader: Reader): { file: string; body: JsonObject } {
  for (const name of ["kustomization.yaml", "kustomization.yml", "Kustomization"]) {
    const file = join(dir, name);
    if (existsSync(file)) {
      const [body] = parseYamlDocuments(reader.text(file), file);
      if (!isObject(body)) throw new KustomizeError(`${file}: not a mapping`);
      const unknown = Object.keys(body).filter((key) => !KUSTOMIZATION_FIELDS.has(key));
      if (unknown.length > 0) {
        throw new KustomizeError(`${file}: unsupported field(s) ${unknown.join(", ")}`);
      }
      return { file, body };
    }
  }
  throw new KustomizeError(`${dir}: no kustomization.yaml`);
}

function build(dir: string, reader: Reader, seen: readonly string[]): Resource[] {
  if (seen.includes(dir)) throw new KustomizeError(`${dir}: cycle through ${seen.join(" → ")}`);
  const { file, body } = readKustomization(dir, reader);
  let resources: Resource[] = [];
  for (const entry of stringList(body.resources, `${file}: resources`)) {
    const path = resolve(dir, entry);
    if (reader.isDirectory(path)) {
      resources.push(...build(path, reader, [...seen, dir]));
      continue;
    }
    if (!path.startsWith(`${dir}/`)) {
      throw new KustomizeError(`${file}: ${entry} is a file outside ${dir} (load restrictor)`);
    }
    for (const document of parseYamlDocuments(reader.text(path), path)) {
      const object = asKubeObject(document, path);
      resources.push({ object, originalName: object.metadata.name });
    }
  }
  resources.push(...generate(body, dir, reader, file));
  resources = applyPatches(resources, body, dir, reader, file);
  setNamespace(resources, body.namespace, file);
  setLabels(resources, body, file);
  setImages(resources, body, file);
  const ids = new Set<string>();
  for (const { object } of resources) {
    const id = resourceId(object);
    if (ids.has(id)) throw new KustomizeError(`${file}: ${id} defined twice`);
    ids.add(id);
  }
  return resources;
}

/** `kubectl kustomize <dir>`, for the features listed at the top of this file. */
export function renderKustomization(dir: string, options: RenderOptions = {}): KubeObject[] {
  const resources = build(resolve(dir), new Reader(options.files ?? {}), []);
  finalizeGeneratedNames(resources);
  return resources.map(({ object }) => object);
}
