/**
 * Validation of rendered objects against the Kubernetes and Istio API schemas that the npm
 * packages kubernetes-models and @kubernetes-models/istio compile (their `.validate()`), made
 * strict: those schemas accept unknown fields, so a misspelt field (`readOnlyRootFileSystem`)
 * would pass and be dropped by the API server. The object is validated through a proxy that
 * records which fields the schema looked at; a field it never read is unknown to the API.
 */
import { DestinationRule } from "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule";
import { Gateway } from "@kubernetes-models/istio/networking.istio.io/v1/Gateway";
import { VirtualService } from "@kubernetes-models/istio/networking.istio.io/v1/VirtualService";
import { AuthorizationPolicy } from "@kubernetes-models/istio/security.istio.io/v1/AuthorizationPolicy";
import { PeerAuthentication } from "@kubernetes-models/istio/security.istio.io/v1/PeerAuthentication";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { CronJob } from "kubernetes-models/batch/v1/CronJob";
import { Job } from "kubernetes-models/batch/v1/Job";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import type { KubeObject } from "./kustomize-render.ts";

type ModelClass = { prototype: { validate(): void } };

/** apiVersion/kind → model. A kind missing here fails the test: every object is validated. */
export const MODELS: ReadonlyMap<string, ModelClass> = new Map<string, ModelClass>([
  ["v1/Namespace", Namespace],
  ["v1/ServiceAccount", ServiceAccount],
  ["v1/Service", Service],
  ["v1/ConfigMap", ConfigMap],
  ["v1/Secret", Secret],
  ["apps/v1/Deployment", Deployment],
  ["batch/v1/Job", Job],
  ["batch/v1/CronJob", CronJob],
  ["policy/v1/PodDisruptionBudget", PodDisruptionBudget],
  ["autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler],
  ["networking.k8s.io/v1/NetworkPolicy", NetworkPolicy],
  ["security.istio.io/v1/AuthorizationPolicy", AuthorizationPolicy],
  ["security.istio.io/v1/PeerAuthentication", PeerAuthentication],
  ["networking.istio.io/v1/Gateway", Gateway],
  ["networking.istio.io/v1/VirtualService", VirtualService],
  ["networking.istio.io/v1/DestinationRule", DestinationRule],
]);

/** Wraps `root` so that every property the validator reads is recorded. */
function tracked(root: unknown): { proxy: unknown; unread: Map<string, Set<string>> } {
  const unread = new Map<string, Set<string>>();
  const wrap = (value: unknown, path: string): unknown => {
    if (value === null || typeof value !== "object") return value;
    const keys = new Set(Array.isArray(value) ? [] : Object.keys(value));
    if (!Array.isArray(value)) unread.set(path, keys);
    return new Proxy(value, {
      get(target, key, receiver) {
        const result: unknown = Reflect.get(target, key, receiver);
        if (typeof key !== "string") return result;
        keys.delete(key);
        return Object.hasOwn(target, key) ? wrap(result, `${path}/${key}`) : result;
      },
      has(target, key) {
        if (typeof key === "string") keys.delete(key);
        return Reflect.has(target, key);
      },
      // A validator that enumerates an object treats it as a map (labels, resources.limits):
      // every key of a map is known.
      ownKeys(target) {
        keys.clear();
        return Reflect.ownKeys(target);
      },
    });
  };
  return { proxy: wrap(root, ""), unread };
}

/** Problems of one object: schema errors, unknown fields. Empty when valid. */
export function schemaProblems(object: KubeObject): string[] {
  const model = MODELS.get(`${object.apiVersion}/${object.kind}`);
  if (model === undefined) return [`no schema registered for ${object.apiVersion} ${object.kind}`];
  const { proxy, unread } = tracked(structuredClone(object));
  try {
    model.prototype.validate.call(proxy);
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
  return [...unread]
    .filter(([, keys]) => keys.size > 0)
    .map(([path, keys]) => `unknown field(s) at ${path || "/"}: ${[...keys].join(", ")}`);
}
