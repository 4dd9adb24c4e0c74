/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return --
   These tests walk untyped rendered manifests; the assertions are the checks. */
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { podSpecReferences, type KubeObject } from "./kustomize-render.ts";
import {
  byKind,
  configMapData,
  containersOf,
  find,
  get,
  mainContainers,
  operatorSecret,
  OVERLAYS,
  podLabelsOf,
  podSpecOf,
  render,
  selects,
  serviceSelects,
  settingsOf,
  workloads,
  type Overlay,
} from "./overlays.ts";

const compose = parse(
  readFileSync(new URL("../../docker/docker-compose.yml", import.meta.url), "utf8"),
  { merge: true },
);
const envoyYaml = parse(readFileSync(new URL("../../envoy/envoy.yaml", import.meta.url), "utf8"));
const tsconfigBuild = JSON.parse(
  readFileSync(new URL("../../tsconfig.build.json", import.meta.url), "utf8"),
) as { compilerOptions: { outDir: string; rootDir: string }; include: string[] };

const AUDIT_PRUNE = "mcp-gateway-audit-prune";

/** Kubernetes workload → the Compose service running the same program. */
const COMPOSE_SERVICE: Record<string, string> = {
  envoy: "envoy",
  "ext-authz": "ext_authz",
  "mcp-router": "mcp_router",
  calculator: "calculator",
  git: "git",
  docs: "document_generator",
  "mcp-gateway-migrate": "migrate",
};
const GATEWAY_DEPLOYMENTS = ["envoy", "ext-authz", "mcp-router", "calculator", "git", "docs"];
const TOOL_SERVERS = ["calculator", "git", "docs"];
/** Development-only data stores of the dev overlay: no autoscaler or disruption budget. */
const DEV_DATA_STORES = ["postgres", "redis"];

function deploymentsOf(overlay: Overlay): string[] {
  return overlay === "istio"
    ? GATEWAY_DEPLOYMENTS.filter((name) => name !== "envoy")
    : GATEWAY_DEPLOYMENTS;
}

function containerPorts(container: any): Array<{ name?: string; containerPort: number }> {
  return container.ports ?? [];
}

/** A probe's or Service's port (number or name) → the container port number, if it exists. */
function resolvePort(containers: any[], port: number | string): number | undefined {
  for (const container of containers) {
    for (const candidate of containerPorts(container)) {
      if (candidate.containerPort === port || candidate.name === port) {
        return candidate.containerPort;
      }
    }
  }
  return undefined;
}

function envOf(container: any): Map<string, any> {
  return new Map((container.env ?? []).map((entry: any) => [entry.name, entry]));
}

function envValue(container: any, name: string): string | undefined {
  return envOf(container).get(name)?.value;
}

describe.each(OVERLAYS)("overlay %s", (overlay) => {
  const objects = render(overlay);
  const pods = workloads(objects);
  const deployments = byKind(objects, "Deployment");
  const services = byKind(objects, "Service");

  it("has the gateway's Deployments, a migration Job, the retention CronJob and nothing else", () => {
    const names = deployments.map((d) => d.metadata.name).sort();
    const expected = [...deploymentsOf(overlay), ...(overlay === "dev" ? DEV_DATA_STORES : [])];
    expect(names).toEqual(expected.sort());
    expect(byKind(objects, "Job").map((job) => job.metadata.name)).toEqual(["mcp-gateway-migrate"]);
    expect(byKind(objects, "CronJob").map((cron) => cron.metadata.name)).toEqual([AUDIT_PRUNE]);
    expect(pods.map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual(
      [
        ...expected.map((name) => `Deployment/${name}`),
        "Job/mcp-gateway-migrate",
        `CronJob/${AUDIT_PRUNE}`,
      ].sort(),
    );
    for (const object of objects) {
      if (object.kind !== "Namespace")
        expect(object.metadata.namespace, object.kind).toBe("mcp-gateway");
      expect(object.metadata.labels?.["app.kubernetes.io/part-of"]).toBe("mcp-gateway");
    }
  });

  it("selects each Deployment's own pods", () => {
    for (const deployment of deployments) {
      expect(selects((deployment.spec as any).selector, podLabelsOf(deployment))).toBe(true);
      for (const other of deployments.filter((d) => d !== deployment)) {
        expect(
          selects((deployment.spec as any).selector, podLabelsOf(other)),
          `${deployment.metadata.name} also selects ${other.metadata.name}`,
        ).toBe(false);
      }
    }
  });

  it("points every Service at the pods and container ports of exactly one Deployment", () => {
    for (const service of services) {
      if ((service.spec as any).type === "ExternalName") continue; // a name outside, no pods
      const where = `Service ${service.metadata.name}`;
      const targets = deployments.filter((d) => serviceSelects(service, podLabelsOf(d)));
      expect(
        targets.map((d) => d.metadata.name),
        where,
      ).toEqual([service.metadata.name]);
      const containers = containersOf(podSpecOf(targets[0]!));
      for (const port of (service.spec as any).ports) {
        expect(resolvePort(containers, port.targetPort ?? port.port), `${where} ${port.name}`).toBe(
          port.port,
        );
      }
    }
    // Every gateway Deployment is reachable through its Service.
    for (const name of deploymentsOf(overlay))
      expect(find(objects, "Service", name), name).toBeDefined();
  });

  it("declares ext-authz's port as gRPC", () => {
    const service = get(objects, "Service", "ext-authz");
    expect((service.spec as any).ports).toEqual([
      { name: "grpc", port: 9191, targetPort: "grpc", protocol: "TCP", appProtocol: "grpc" },
    ]);
  });

  it("gives every long-running container readiness and liveness probes on ports it has", () => {
    for (const deployment of deployments) {
      for (const container of mainContainers(deployment) as any[]) {
        const where = `${deployment.metadata.name}/${container.name}`;
        for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"]) {
          const probe = container[kind];
          if (probe === undefined) {
            expect(kind, `${where} has no ${kind}`).toBe("startupProbe");
            continue;
          }
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
          if (probe.exec !== undefined) continue;
          expect(resolvePort([container], port), `${where} ${kind} port ${port}`).toBeDefined();
        }
      }
    }
  });

  it("probes the endpoints each service has: /health, /ready and gRPC health", () => {
    const probesOf = (name: string) => mainContainers(get(objects, "Deployment", name))[0] as any;
    const router = probesOf("mcp-router");
    expect(router.readinessProbe.httpGet).toEqual({ path: "/ready", port: "http" });
    expect(router.livenessProbe.httpGet).toEqual({ path: "/health", port: "http" });
    for (const tool of TOOL_SERVERS) {
      const container = probesOf(tool);
      expect(container.readinessProbe.httpGet.path, tool).toBe("/health");
      expect(container.livenessProbe.httpGet.path, tool).toBe("/health");
    }
    const extAuthz = probesOf("ext-authz");
    expect(extAuthz.readinessProbe.grpc).toEqual({ port: 9191 });
    expect(extAuthz.startupProbe.grpc).toEqual({ port: 9191 });
    expect(extAuthz.livenessProbe.httpGet).toEqual({ path: "/health", port: "metrics" });
  });

  it("references only ConfigMaps, Secrets and keys that exist (or the operator's Secret)", () => {
    const documented = operatorSecret();
    for (const workload of pods) {
      for (const ref of podSpecReferences(podSpecOf(workload))) {
        const name = String(ref.holder[ref.field]);
        const where = `${workload.metadata.name} → ${ref.kind} ${name}${ref.key ? `.${ref.key}` : ""}`;
        const rendered = find(objects, ref.kind, name);
        if (rendered === undefined) {
          // Only the production and istio overlays leave a Secret to the operator, and only the
          // one documented in secret.example.yaml.
          expect(ref.kind, where).toBe("Secret");
          expect(overlay, where).not.toBe("dev");
          expect(name, where).toBe(documented.metadata.name);
          if (ref.key !== undefined && !ref.optional) {
            expect(Object.keys(documented.stringData), where).toContain(ref.key);
          }
          continue;
        }
        if (ref.key !== undefined && !ref.optional) {
          expect(Object.keys(rendered.data ?? {}), where).toContain(ref.key);
        }
      }
    }
    if (overlay !== "dev") expect(byKind(objects, "Secret")).toEqual([]);
  });

  it("runs every pod and container non-root, read-only, without privileges", () => {
    for (const workload of pods) {
      const spec = podSpecOf(workload) as any;
      const where = workload.metadata.name;
      expect(spec.securityContext.runAsNonRoot, where).toBe(true);
      // Numeric, so the kubelet can verify runAsNonRoot against images with a named USER.
      expect(spec.securityContext.runAsUser, where).toBeGreaterThan(0);
      expect(spec.securityContext.seccompProfile, where).toEqual({ type: "RuntimeDefault" });
      expect(spec.automountServiceAccountToken, where).toBe(false);
      for (const hostField of ["hostNetwork", "hostPID", "hostIPC"]) {
        expect(spec[hostField], `${where} ${hostField}`).toBeUndefined();
      }
      const emptyDirs = new Set(
        (spec.volumes ?? []).filter((v: any) => v.emptyDir).map((v: any) => v.name),
      );
      for (const container of containersOf(spec) as any[]) {
        const at = `${where}/${container.name}`;
        const context = container.securityContext;
        expect(context.allowPrivilegeEscalation, at).toBe(false);
        expect(context.readOnlyRootFilesystem, at).toBe(true);
        expect(context.capabilities, at).toEqual({ drop: ["ALL"] });
        expect(context.privileged, at).toBeUndefined();
        expect(context.runAsUser ?? spec.securityContext.runAsUser, at).toBeGreaterThan(0);
        // Every writable path is an emptyDir; Node and Envoy want a /tmp.
        const mounts = (container.volumeMounts ?? []) as any[];
        for (const mount of mounts.filter((m) => m.readOnly !== true)) {
          expect(emptyDirs.has(mount.name), `${at}: ${mount.mountPath} is writable`).toBe(true);
        }
        if (!["postgres", "redis"].includes(where)) {
          expect(
            mounts.map((m) => m.mountPath),
            at,
          ).toContain("/tmp");
        }
      }
    }
  });

  it("sets CPU and memory requests and limits on every container", () => {
    const quantity = (value: string): number => {
      const match = /^(\d+(?:\.\d+)?)(m|Mi|Gi)?$/.exec(value);
      if (match === null) throw new Error(`unexpected quantity ${value}`);
      const scale: Record<string, number> = { m: 0.001, Mi: 2 ** 20, Gi: 2 ** 30 };
      return Number(match[1]) * (match[2] === undefined ? 1 : scale[match[2]]!);
    };
    for (const workload of pods) {
      for (const container of containersOf(podSpecOf(workload)) as any[]) {
        const at = `${workload.metadata.name}/${container.name}`;
        for (const resource of ["cpu", "memory"]) {
          const request = container.resources?.requests?.[resource];
          const limit = container.resources?.limits?.[resource];
          expect(request, `${at} ${resource} request`).toBeDefined();
          expect(limit, `${at} ${resource} limit`).toBeDefined();
          expect(quantity(String(request)), at).toBeLessThanOrEqual(quantity(String(limit)));
        }
      }
    }
  });

  it("gives every gateway Deployment an autoscaler that owns its replica count", () => {
    const autoscalers = byKind(objects, "HorizontalPodAutoscaler");
    for (const hpa of autoscalers) {
      const spec = hpa.spec as any;
      expect(spec.scaleTargetRef.kind).toBe("Deployment");
      const target = get(objects, "Deployment", spec.scaleTargetRef.name);
      // kubectl apply would reset a replica count the autoscaler changed.
      expect((target.spec as any).replicas, target.metadata.name).toBeUndefined();
      expect(spec.minReplicas).toBeLessThanOrEqual(spec.maxReplicas);
      if (overlay !== "dev") expect(spec.minReplicas, hpa.metadata.name).toBeGreaterThanOrEqual(2);
      // CPU utilization is relative to the request: every container needs one.
      for (const container of mainContainers(target) as any[]) {
        expect(container.resources.requests.cpu, hpa.metadata.name).toBeDefined();
      }
    }
    expect(autoscalers.map((h) => (h.spec as any).scaleTargetRef.name).sort()).toEqual(
      [...deploymentsOf(overlay)].sort(),
    );
  });

  it("gives every gateway Deployment a disruption budget selecting its pods only", () => {
    const budgets = byKind(objects, "PodDisruptionBudget");
    for (const pdb of budgets) {
      const matched = deployments.filter((d) =>
        selects((pdb.spec as any).selector, podLabelsOf(d)),
      );
      expect(
        matched.map((d) => d.metadata.name),
        pdb.metadata.name,
      ).toEqual([pdb.metadata.name]);
      expect((pdb.spec as any).maxUnavailable).toBe(1);
    }
    expect(budgets.map((b) => b.metadata.name).sort()).toEqual([...deploymentsOf(overlay)].sort());
  });

  it("spreads topology only over the Deployment's own pods", () => {
    for (const deployment of deployments) {
      for (const constraint of (podSpecOf(deployment).topologySpreadConstraints ?? []) as any[]) {
        expect(selects(constraint.labelSelector, podLabelsOf(deployment))).toBe(true);
      }
    }
  });

  it("runs the programs Compose runs, from the same images", () => {
    const image = (name: string) =>
      (mainContainers(get(objects, "Deployment", name))[0] as any).image;
    const job = get(objects, "Job", "mcp-gateway-migrate");
    const jobContainer = mainContainers(job)[0] as any;
    // The migration Job runs the image the services it migrates for run.
    expect(jobContainer.image).toBe(image("mcp-router"));
    expect(jobContainer.image).toBe(image("ext-authz"));
    for (const workload of pods) {
      const service = COMPOSE_SERVICE[workload.metadata.name];
      if (service === undefined) continue;
      const container = mainContainers(workload)[0] as any;
      const composed = compose.services[service];
      if (service === "envoy") {
        expect(container.image).toBe(composed.image);
        expect(container.command.slice(0, 3)).toEqual(composed.command.slice(0, 3));
        continue;
      }
      expect(container.command, workload.metadata.name).toEqual(composed.command);
      // Compose's image names; the overlays may move them to a registry.
      const composeImage = String(composed.image).replace(/\$\{[A-Z_]+:-([^}]+)\}/, "$1");
      const [repository, tag] = composeImage.split(":");
      expect(container.image, workload.metadata.name).toMatch(
        new RegExp(`(^|/)${repository}:${tag}$`),
      );
    }
    for (const workload of pods) {
      for (const container of containersOf(podSpecOf(workload)) as any[]) {
        expect(container.image, workload.metadata.name).toMatch(/:[^:/]*\d[^:/]*$/);
        expect(container.image, workload.metadata.name).not.toMatch(/:latest$/);
      }
    }
  });

  it("can apply the migration Job alone, first (-l app.kubernetes.io/component=migration)", () => {
    const selected = objects.filter(
      (object) => object.metadata.labels?.["app.kubernetes.io/component"] === "migration",
    );
    expect(selected.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Job/mcp-gateway-migrate",
      "ServiceAccount/mcp-gateway-migrate",
    ]);
    const spec = podSpecOf(get(objects, "Job", "mcp-gateway-migrate"));
    expect(spec.serviceAccountName).toBe("mcp-gateway-migrate");
    // Nothing but the Secret, which exists before the first apply.
    expect(podSpecReferences(spec).map((ref) => ref.kind)).toEqual(["Secret"]);
    expect(
      (get(objects, "Job", "mcp-gateway-migrate").spec as any).template.metadata.labels,
    ).toMatchObject({ "app.kubernetes.io/component": "migration" });
  });

  it("prunes the audit log daily with the image's audit CLI, one run at a time", () => {
    const cron = get(objects, "CronJob", AUDIT_PRUNE);
    const spec = cron.spec as any;
    // Daily: fixed minute and hour, every day of every month.
    expect(spec.schedule).toMatch(/^\d{1,2} \d{1,2} \* \* \*$/);
    expect(spec.timeZone).toBe("Etc/UTC");
    expect(spec.concurrencyPolicy).toBe("Forbid");
    expect(spec.suspend).toBeUndefined();
    // A missed run may start late, but not after the next one is due.
    expect(spec.startingDeadlineSeconds).toBeGreaterThan(0);
    expect(spec.startingDeadlineSeconds).toBeLessThan(24 * 3600);
    expect(spec.successfulJobsHistoryLimit).toBeGreaterThanOrEqual(1);
    expect(spec.failedJobsHistoryLimit).toBeGreaterThanOrEqual(1);
    const job = spec.jobTemplate.spec;
    expect(job.backoffLimit).toBeGreaterThanOrEqual(1);
    expect(job.activeDeadlineSeconds).toBeGreaterThan(0);
    expect(job.activeDeadlineSeconds).toBeLessThan(24 * 3600);
    const pod = podSpecOf(cron) as any;
    expect(pod.restartPolicy).toBe("OnFailure");
    expect(pod.serviceAccountName).toBe(AUDIT_PRUNE);
    expect(get(objects, "ServiceAccount", AUDIT_PRUNE).automountServiceAccountToken).toBe(false);
    expect(podLabelsOf(cron)).toMatchObject({
      "app.kubernetes.io/name": AUDIT_PRUNE,
      "app.kubernetes.io/component": "audit-retention",
    });
    const [container, ...others] = mainContainers(cron) as any[];
    expect(others).toEqual([]);
    expect(container.command).toEqual(["node", "dist/store/src/audit-cli.js", "prune"]);
    // The same image as the services whose audit log it prunes.
    expect(container.image).toBe(
      (mainContainers(get(objects, "Deployment", "mcp-router"))[0] as any).image,
    );
    // Nothing but the Secret and the settings (AUDIT_RETENTION_DAYS).
    expect(
      podSpecReferences(pod)
        .map((ref) => `${ref.kind}:${ref.key}`)
        .sort(),
    ).toEqual(["ConfigMap:AUDIT_RETENTION_DAYS", "Secret:DATABASE_URL"]);
  });

  it("runs the jobs' programs from where the build puts them", () => {
    // tsconfig.build.json compiles <rootDir>/x.ts to <outDir>/x.js; the runtime image copies dist/.
    const { outDir, rootDir } = tsconfigBuild.compilerOptions;
    expect(rootDir).toBe(".");
    for (const workload of [
      get(objects, "Job", "mcp-gateway-migrate"),
      get(objects, "CronJob", AUDIT_PRUNE),
    ]) {
      const [node, script] = (mainContainers(workload)[0] as any).command as string[];
      expect(node).toBe("node");
      expect(script, workload.metadata.name).toMatch(new RegExp(`^${outDir}/.+\\.js$`));
      const source = script!.slice(outDir.length + 1).replace(/\.js$/, ".ts");
      expect(
        existsSync(new URL(`../../${source}`, import.meta.url)),
        `${workload.metadata.name}: ${source}`,
      ).toBe(true);
      expect(
        tsconfigBuild.include.some((dir) => source.startsWith(`${dir}/`)),
        `${source} is not in tsconfig.build.json's include`,
      ).toBe(true);
    }
  });

  it("mounts the configuration where the programs read it", () => {
    for (const name of ["ext-authz", "mcp-router"]) {
      const deployment = get(objects, "Deployment", name);
      const container = mainContainers(deployment)[0] as any;
      const configDir = envValue(container, "CONFIG_DIR");
      const mount = container.volumeMounts.find((m: any) => m.mountPath === configDir);
      expect(mount?.readOnly, name).toBe(true);
      // A directory mount (no subPath): ConfigMap updates reach the files the services watch.
      expect(mount?.subPath, name).toBeUndefined();
      const volume = (podSpecOf(deployment).volumes as any[]).find((v) => v.name === mount.name);
      const data = get(objects, "ConfigMap", volume.configMap.name).data as Record<string, string>;
      expect(Object.keys(data).sort()).toEqual(["policy.yaml", "tools.yaml"]);
    }
    if (overlay === "istio") return;
    const envoy = get(objects, "Deployment", "envoy");
    const container = mainContainers(envoy)[0] as any;
    const configPath = container.command[container.command.indexOf("-c") + 1] as string;
    const mount = container.volumeMounts.find((m: any) => configPath.startsWith(`${m.mountPath}/`));
    const volume = (podSpecOf(envoy).volumes as any[]).find((v) => v.name === mount.name);
    const data = get(objects, "ConfigMap", volume.configMap.name).data as Record<string, string>;
    expect(Object.keys(data)).toEqual([configPath.slice(mount.mountPath.length + 1)]);
  });

  it.skipIf(overlay === "istio")(
    "lets Envoy reach every upstream through a headless Service",
    () => {
      const config = parse(configMapData(objects, "envoy-config")["envoy.yaml"]!);
      for (const cluster of config.static_resources.clusters) {
        const endpoints = cluster.load_assignment.endpoints.flatMap((e: any) => e.lb_endpoints);
        for (const { endpoint } of endpoints) {
          const { address, port_value: port } = endpoint.address.socket_address;
          const service = find(objects, "Service", address);
          expect(service, `${cluster.name} → ${address}`).toBeDefined();
          expect(
            (service!.spec as any).ports.map((p: any) => p.port),
            address,
          ).toContain(port);
          expect(cluster.type).toBe("STRICT_DNS");
          // The trace collector is the operator's, outside the gateway: a name, not our pods.
          if (cluster.name === "opentelemetry_collector") {
            expect((service!.spec as any).type, address).toBe("ExternalName");
            continue;
          }
          // STRICT_DNS must see every replica to health-check it and to hash over them.
          expect((service!.spec as any).clusterIP, address).toBe("None");
        }
      }
    },
  );

  it("passes Envoy's body limit to every service that checks one", () => {
    const filters = envoyYaml.static_resources.listeners[0].filter_chains[0].filters;
    const extAuthz = filters[0].typed_config.http_filters.find(
      (f: any) => f.name === "envoy.filters.http.ext_authz",
    );
    const limit = String(extAuthz.typed_config.with_request_body.max_request_bytes);
    for (const workload of pods) {
      for (const container of containersOf(podSpecOf(workload))) {
        const value = envValue(container, "MAX_REQUEST_BYTES");
        if (value !== undefined) expect(value, workload.metadata.name).toBe(limit);
      }
    }
  });

  it("runs the router behind the proxy (envoy mode) with the tool Services as backends", () => {
    const router = mainContainers(get(objects, "Deployment", "mcp-router"))[0] as any;
    expect(envValue(router, "AUTHZ_MODE")).toBe("envoy");
    expect(envOf(router).has("EXT_AUTHZ_ADDRESS")).toBe(false);
    const tools = parse(configMapData(objects, "gateway-config")["tools.yaml"]!);
    for (const [scope, definition] of Object.entries<any>(tools.scopes)) {
      const variable = /^\$\{([A-Z_]+)(:-[^}]*)?\}$/.exec(definition.backend_url)?.[1];
      expect(variable, scope).toBeDefined();
      const url = new URL(envValue(router, variable!)!);
      const service = get(objects, "Service", url.hostname);
      expect(
        (service.spec as any).ports.map((p: any) => p.port),
        scope,
      ).toContain(Number(url.port));
      expect(url.hostname, scope).toBe(scope);
    }
  });

  it("inlines no secret and gives each credential only to the services that use it", () => {
    const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEY$|DATABASE_URL|REDIS_URL/;
    const holders = new Map<string, string[]>();
    for (const workload of pods) {
      for (const container of containersOf(podSpecOf(workload)) as any[]) {
        for (const entry of container.env ?? []) {
          if (!SECRET_NAME.test(entry.name)) continue;
          expect(entry.value, `${workload.metadata.name} ${entry.name}`).toBeUndefined();
          expect(
            entry.valueFrom?.secretKeyRef,
            `${workload.metadata.name} ${entry.name}`,
          ).toBeDefined();
          holders.set(entry.name, [...(holders.get(entry.name) ?? []), workload.metadata.name]);
        }
        expect(container.envFrom, workload.metadata.name).toBeUndefined();
      }
    }
    const sorted = (names: string[]) => [...new Set(names)].sort();
    expect(sorted(holders.get("GATEWAY_VERDICT_KEY")!)).toEqual(["ext-authz", "mcp-router"]);
    expect(sorted(holders.get("TOOL_GATEWAY_SHARED_SECRET")!)).toEqual(
      sorted(["mcp-router", ...TOOL_SERVERS]),
    );
    expect(sorted(holders.get("SESSION_SECRET")!)).toEqual(["mcp-router"]);
    expect(sorted(holders.get("REDIS_URL")!)).toEqual(["ext-authz"]);
    expect(sorted(holders.get("DATABASE_URL")!)).toEqual([
      "ext-authz",
      AUDIT_PRUNE,
      "mcp-gateway-migrate",
      "mcp-router",
    ]);
  });

  it("serves the git tool the repositories it mounts", () => {
    const git = get(objects, "Deployment", "git");
    const container = mainContainers(git)[0] as any;
    const settings = settingsOf(overlay);
    const mounts = container.volumeMounts as any[];
    const repositories = settings.GIT_REPOSITORIES!.split(",").map((pair) => pair.split("="));
    for (const [name, path] of repositories) {
      expect(
        mounts.some((m) => m.readOnly === true && path!.startsWith(`${m.mountPath}/`)),
        `${name}=${path} is not under a read-only mount`,
      ).toBe(true);
    }
    if (overlay !== "dev") {
      const cloned = settings.GIT_CLONE_SOURCES!.split(",").map((pair) => pair.split("=")[0]);
      expect(repositories.map(([name, path]) => `${name}=${path}`)).toEqual(
        cloned.map((name) => `${name}=/repositories/${name}`),
      );
    }
  });

  it("gives draining services a grace period longer than their drain", () => {
    const router = get(objects, "Deployment", "mcp-router");
    const container = mainContainers(router)[0] as any;
    const preStop = Number(container.lifecycle.preStop.exec.command[1]);
    const drain = Number(envValue(container, "DRAIN_TIMEOUT_MS")) / 1000;
    expect(podSpecOf(router).terminationGracePeriodSeconds).toBeGreaterThan(preStop + drain);
    // ext-authz: SHUTDOWN_DRAIN_MS (10 s) + SHUTDOWN_GRACE_MS (10 s) by default.
    expect(
      podSpecOf(get(objects, "Deployment", "ext-authz")).terminationGracePeriodSeconds,
    ).toBeGreaterThan(20);
  });
});

/** The pods a NetworkPolicy peer admits, as workload names (`*` = any source). */
function admittedBy(objects: KubeObject[], peers: any[] | undefined): string[] {
  if (peers === undefined || peers.length === 0) return ["*"];
  return peers.flatMap((peer) => {
    if (peer.ipBlock !== undefined) return [`ipBlock:${peer.ipBlock.cidr}`];
    if (peer.namespaceSelector !== undefined) {
      const namespace = peer.namespaceSelector.matchLabels?.["kubernetes.io/metadata.name"];
      const labels = Object.entries(peer.podSelector?.matchLabels ?? {}).map(
        ([k, v]) => `${k}=${String(v)}`,
      );
      return [`namespace:${namespace ?? "?"}/${labels.join(",")}`];
    }
    return workloads(objects)
      .filter((workload) => selects(peer.podSelector, podLabelsOf(workload)))
      .map((workload) => workload.metadata.name);
  });
}

/** Who may open connections to each workload, and on which ports, per the NetworkPolicies. */
function ingressOf(objects: KubeObject[]): Map<string, Set<string>> {
  const policies = byKind(objects, "NetworkPolicy");
  const out = new Map<string, Set<string>>();
  for (const workload of workloads(objects)) {
    const allowed = new Set<string>();
    for (const policy of policies) {
      const spec = policy.spec as any;
      if (!selects(spec.podSelector, podLabelsOf(workload))) continue;
      expect(spec.policyTypes).toContain("Ingress");
      for (const rule of spec.ingress ?? []) {
        const ports = (rule.ports ?? []).map((p: any) => p.port).join(",") || "all";
        for (const source of admittedBy(objects, rule.from)) allowed.add(`${source}:${ports}`);
      }
    }
    out.set(workload.metadata.name, allowed);
  }
  return out;
}

describe.each(OVERLAYS)("overlay %s: NetworkPolicies", (overlay) => {
  const objects = render(overlay);
  const ingress = ingressOf(objects);

  it("deny all ingress by default", () => {
    const denyAll = byKind(objects, "NetworkPolicy").filter(
      (policy) =>
        Object.keys((policy.spec as any).podSelector).length === 0 &&
        (policy.spec as any).ingress === undefined,
    );
    expect(denyAll.map((p) => p.metadata.name)).toEqual(["default-deny-ingress"]);
    expect((denyAll[0]!.spec as any).policyTypes).toEqual(["Ingress"]);
  });

  it("let only the router reach the tool servers", () => {
    expect([...ingress.get("calculator")!]).toEqual(["mcp-router:8091"]);
    expect([...ingress.get("git")!]).toEqual(["mcp-router:8092"]);
    expect([...ingress.get("docs")!]).toEqual(["mcp-router:8093"]);
  });

  it("let only the proxy reach the router and ext-authz", () => {
    if (overlay === "istio") {
      expect([...ingress.get("mcp-router")!]).toEqual([
        "namespace:istio-system/istio=ingressgateway:8080",
      ]);
      // The router's sidecar runs the CUSTOM check.
      expect([...ingress.get("ext-authz")!]).toEqual(["mcp-router:9191"]);
      expect(ingress.has("envoy")).toBe(false);
      return;
    }
    expect([...ingress.get("mcp-router")!]).toEqual(["envoy:8080"]);
    // Kubernetes runs the router in envoy mode: it never calls ext-authz itself.
    expect([...ingress.get("ext-authz")!]).toEqual(["envoy:9191"]);
    expect([...ingress.get("envoy")!]).toEqual(["*:8000"]);
  });

  it("let nothing reach the jobs, and the dev stores only from their clients", () => {
    expect([...ingress.get("mcp-gateway-migrate")!]).toEqual([]);
    expect([...ingress.get(AUDIT_PRUNE)!]).toEqual([]);
    if (overlay !== "dev") return;
    expect([...ingress.get("postgres")!].sort()).toEqual([
      "ext-authz:5432",
      `${AUDIT_PRUNE}:5432`,
      "mcp-gateway-migrate:5432",
      "mcp-router:5432",
    ]);
    expect([...ingress.get("redis")!]).toEqual(["ext-authz:6379"]);
  });

  it("open only ports the selected pods listen on", () => {
    for (const policy of byKind(objects, "NetworkPolicy")) {
      const spec = policy.spec as any;
      const selected = workloads(objects).filter((w) => selects(spec.podSelector, podLabelsOf(w)));
      for (const rule of spec.ingress ?? []) {
        for (const { port } of rule.ports ?? []) {
          for (const workload of selected) {
            expect(
              resolvePort(mainContainers(workload), port),
              `${policy.metadata.name} ${port}`,
            ).toBe(port);
          }
        }
      }
    }
  });
});

describe("overlay differences", () => {
  it("dev runs in development mode, production and istio in production mode", () => {
    for (const overlay of OVERLAYS) {
      for (const workload of workloads(render(overlay))) {
        const value = envValue(mainContainers(workload)[0], "NODE_ENV");
        if ([...DEV_DATA_STORES, "envoy"].includes(workload.metadata.name)) continue;
        expect(value, `${overlay} ${workload.metadata.name}`).toBe(
          overlay === "dev" ? "development" : "production",
        );
      }
    }
  });

  it("production publishes Envoy through a load balancer that keeps the client address", () => {
    const service = get(render("production"), "Service", "envoy");
    expect((service.spec as any).type).toBe("LoadBalancer");
    expect((service.spec as any).externalTrafficPolicy).toBe("Local");
  });

  it("istio leaves no Envoy object or reference behind", () => {
    const objects = render("istio");
    for (const object of objects) {
      expect(object.metadata.name, `${object.kind}`).not.toMatch(/^envoy/);
      expect(
        JSON.stringify(object.spec ?? {}),
        `${object.kind}/${object.metadata.name}`,
      ).not.toMatch(/"app\.kubernetes\.io\/name":"envoy"/);
    }
    expect(get(objects, "Namespace", "mcp-gateway").metadata.labels?.["istio-injection"]).toBe(
      "enabled",
    );
  });
});
