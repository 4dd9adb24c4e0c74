/* eslint-disable @typescript-eslint/no-explicit-any --
   These tests walk untyped rendered manifests; the assertions are the checks. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { MODELS, schemaProblems } from "./api-schemas.ts";
import type { KubeObject } from "./kustomize-render.ts";
import { get, OVERLAYS, overlayDir, render } from "./overlays.ts";

/**
 * kustomize wraps a generated Secret's base64 at 70 columns; the API server's decoder skips the
 * newlines, the schema's "byte" format does not.
 */
function asSubmitted(object: KubeObject): KubeObject {
  if (object.kind !== "Secret" || object.data === undefined) return object;
  const data = Object.fromEntries(
    Object.entries(object.data as Record<string, string>).map(([k, v]) => [
      k,
      v.replace(/\n/g, ""),
    ]),
  );
  return { ...object, data };
}

describe.each(OVERLAYS)("overlay %s: every object against the API schemas", (overlay) => {
  const objects = render(overlay);

  it("renders objects of known kinds only", () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const object of objects) {
      expect(
        MODELS.has(`${object.apiVersion}/${object.kind}`),
        `${object.apiVersion} ${object.kind}`,
      ).toBe(true);
    }
  });

  it.each(objects.map((object) => [`${object.kind}/${object.metadata.name}`, object] as const))(
    "%s is valid, with no unknown field",
    (_name, object) => {
      expect(schemaProblems(asSubmitted(object))).toEqual([]);
    },
  );
});

describe("the strict schema check", () => {
  const deployment = get(render("production"), "Deployment", "mcp-router");

  it("reports a misspelt field the plain schema would accept", () => {
    const broken: any = structuredClone(deployment);
    broken.spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem = true;
    expect(schemaProblems(broken)).toEqual([
      "unknown field(s) at /spec/template/spec/containers/0/securityContext: readOnlyRootFileSystem",
    ]);
  });

  it("reports a wrong type", () => {
    const broken: any = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    expect(schemaProblems(broken).join()).toMatch(/containerPort must be integer/);
  });

  it("accepts free-form maps (labels, resource quantities)", () => {
    const extended: any = structuredClone(deployment);
    extended.metadata.labels["example.com/anything"] = "x";
    extended.spec.template.spec.containers[0].resources.limits["example.com/gpu"] = "1";
    expect(schemaProblems(extended)).toEqual([]);
  });

  it("reports an unknown Istio field", () => {
    const policy: any = structuredClone(
      get(render("istio"), "AuthorizationPolicy", "mcp-router-ext-authz"),
    );
    policy.spec.rules[0].to[0].operation.notPath = ["/x"];
    expect(schemaProblems(policy).join()).toMatch(
      /unknown field\(s\) at \/spec\/rules\/0\/to\/0\/operation: notPath/,
    );
  });
});

describe("documents kept beside the overlays", () => {
  it("secret.example.yaml is a valid Secret", () => {
    const secret = parse(readFileSync(`${overlayDir("production")}/secret.example.yaml`, "utf8"));
    expect(schemaProblems(secret)).toEqual([]);
  });

  // @kubernetes-models/istio has no schema for an IstioOperator's spec: the part the gateway
  // relies on (one envoyExtAuthzGrpc extension provider) is checked with this zod schema, strict
  // like the API's own (unknown keys fail).
  const ExtensionProviderSchema = z.strictObject({
    name: z.string().regex(/^[a-z0-9-]+$/),
    envoyExtAuthzGrpc: z.strictObject({
      service: z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+\.svc\.cluster\.local$/),
      port: z.number().int().min(1).max(65535),
      timeout: z.string().regex(/^\d+(\.\d+)?(ms|s)$/),
      failOpen: z.boolean(),
      statusOnError: z.string().regex(/^\d{3}$/),
      includeRequestBodyInCheck: z.strictObject({
        maxRequestBytes: z.number().int().positive(),
        allowPartialMessage: z.boolean(),
        packAsBytes: z.boolean(),
      }),
    }),
  });
  const IstioOperatorSchema = z.strictObject({
    apiVersion: z.literal("install.istio.io/v1alpha1"),
    kind: z.literal("IstioOperator"),
    metadata: z.strictObject({ name: z.string(), namespace: z.literal("istio-system") }),
    spec: z.strictObject({
      meshConfig: z.strictObject({ extensionProviders: z.array(ExtensionProviderSchema).min(1) }),
    }),
  });

  it("mesh-config.yaml is an IstioOperator with an envoyExtAuthzGrpc provider", () => {
    const operator = parse(readFileSync(`${overlayDir("istio")}/mesh-config.yaml`, "utf8"));
    expect(IstioOperatorSchema.safeParse(operator).error?.issues ?? []).toEqual([]);
  });
});
