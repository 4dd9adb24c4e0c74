import { Counter, Gauge, type Registry } from "prom-client";
import { RELOAD_OUTCOMES } from "./config-watcher.ts";
import type { ConfigReloadState } from "./config-reload.ts";
import { POLICY_FILE, TOOLS_FILE } from "./load-config.ts";

/**
 * Exposes a service's configuration reloads on `registry`, read at scrape time. Names are
 * `<prefix>config_…`, e.g. `ext_authz_config_reloads_total{result="invalid"}`: an alert on its
 * increase catches a bad policy.yaml that was refused while the old one keeps running.
 */
export function registerConfigReloadMetrics(
  registry: Registry,
  state: ConfigReloadState,
  options: { prefix: string },
): void {
  new Counter({
    name: `${options.prefix}config_reloads_total`,
    help: "Configuration reload attempts by result (ok: applied; invalid: refused, the running configuration stays; failed: valid but could not be applied)",
    labelNames: ["result"],
    registers: [registry],
    collect() {
      // The reload state owns the running totals; the counter mirrors them.
      this.reset();
      const { counts } = state.status();
      for (const result of RELOAD_OUTCOMES) this.inc({ result }, counts[result]);
    },
  });
  new Gauge({
    name: `${options.prefix}config_last_reload_success_timestamp_seconds`,
    help: "When the running configuration was loaded (start, or the last applied reload)",
    registers: [registry],
    collect() {
      this.set(state.status().lastSuccessAt.getTime() / 1000);
    },
  });
  new Gauge({
    name: `${options.prefix}config_info`,
    help: "The running configuration: sha256 of tools.yaml and policy.yaml as labels, value 1",
    labelNames: ["tools_sha256", "policy_sha256"],
    registers: [registry],
    collect() {
      this.reset();
      const { digests } = state.status();
      this.set(
        { tools_sha256: digests[TOOLS_FILE] ?? "", policy_sha256: digests[POLICY_FILE] ?? "" },
        1,
      );
    },
  });
  new Gauge({
    name: `${options.prefix}config_restart_required`,
    help: "1 when a reloaded configuration changed a setting that only takes effect after a restart",
    registers: [registry],
    collect() {
      this.set(state.status().restartRequired.length > 0 ? 1 : 0);
    },
  });
}
