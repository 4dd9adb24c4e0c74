/**
 * Applies a changed configuration to the services that run on it, all or nothing. Each service
 * (a consumer) first compiles the candidate without touching what runs; any refusal makes the
 * candidate invalid and nothing changes. Then the steps that may fail (the router's registry sync)
 * run, and only when all succeeded does every service swap its compiled state, synchronously, in
 * one go. In the embedded stack ext-authz and the router are two consumers of one reload, so they
 * never run on different configurations.
 */
import type { Logger } from "../../contract/src/log.ts";
import type { ConfigCandidate, ReloadOutcome, ReloadTrigger } from "./config-watcher.ts";
import type { ConfigDigests, GatewayConfig } from "./load-config.ts";

export type ReloadReport = {
  trigger: ReloadTrigger;
  outcome: ReloadOutcome;
  at: Date;
  /** The configuration that was running when the reload began. */
  previous: ConfigDigests;
  /** The files read: applied when ok, refused otherwise. */
  digests: ConfigDigests;
  /** Why it was refused: `file: path: message` lines, for the log only. */
  errors: readonly string[];
  /** Settings whose change only takes effect at the next start (see each consumer). */
  requiresRestart: readonly string[];
};

export type PreparedConfig = {
  /** Work that may fail and must succeed before anything is swapped (e.g. a database sync). */
  stage?: () => Promise<void>;
  /** The swap itself: synchronous and infallible, so the services change together. */
  commit(): void;
  /** Changed settings this service reads only at startup (e.g. `tools.yaml: tasks.max_ttl_ms`). */
  requiresRestart?: readonly string[];
};

export type ConfigConsumer = {
  /** For the log: "ext-authz", "mcp-router". */
  name: string;
  /** Compiles `config` into what the service runs on, without changing it; a throw refuses it. */
  prepare(config: GatewayConfig): PreparedConfig;
  /** Told every reload attempt and its outcome (for metrics, readiness detail and audit). */
  reported(report: ReloadReport): void;
};

/** Errors a consumer's compile step may throw with their own list (like ConfigError). */
function errorLines(error: unknown): string[] {
  if (error instanceof Error) {
    const listed = (error as { errors?: unknown }).errors;
    if (Array.isArray(listed) && listed.every((line) => typeof line === "string")) return listed;
    return [error.message];
  }
  return ["unknown error"];
}

/** The `onCandidate` of a ConfigWatcher, applying to `consumers`. */
export function createConfigReloader(options: {
  consumers: readonly ConfigConsumer[];
  logger: Pick<Logger, "info" | "warn" | "error">;
  now?: () => Date;
}): (candidate: ConfigCandidate) => Promise<ReloadOutcome> {
  const { consumers, logger } = options;
  const now = options.now ?? (() => new Date());

  return async function reload(candidate) {
    const base = { trigger: candidate.trigger, previous: candidate.previous };
    const finish = (
      outcome: ReloadOutcome,
      errors: readonly string[],
      requiresRestart: readonly string[] = [],
    ): ReloadOutcome => {
      const report: ReloadReport = {
        ...base,
        outcome,
        at: now(),
        digests: candidate.digests,
        errors,
        requiresRestart,
      };
      const fields = {
        trigger: report.trigger,
        previous: report.previous,
        digests: report.digests,
      };
      if (outcome === "ok") {
        logger.info(fields, "configuration reloaded");
        if (requiresRestart.length > 0) {
          logger.warn(
            { ...fields, requiresRestart },
            "configuration reloaded, but changed settings in requiresRestart take effect only after a restart",
          );
        }
      } else {
        for (const error of errors) {
          logger.error({ ...fields, error }, `configuration ${outcome}: the running one stays`);
        }
      }
      for (const consumer of consumers) {
        try {
          consumer.reported(report);
        } catch (error) {
          // Reporting is bookkeeping: the outcome (and a swap already done) stands.
          logger.error(
            { consumer: consumer.name, err: error instanceof Error ? error.name : "unknown" },
            "configuration reload could not be reported",
          );
        }
      }
      return outcome;
    };

    if (!candidate.loaded.ok) return finish("invalid", candidate.loaded.errors);
    const config = candidate.loaded.config;

    const prepared: PreparedConfig[] = [];
    for (const consumer of consumers) {
      try {
        prepared.push(consumer.prepare(config));
      } catch (error) {
        return finish(
          "invalid",
          errorLines(error).map((line) => `${consumer.name}: ${line}`),
        );
      }
    }
    for (const [index, step] of prepared.entries()) {
      try {
        await step.stage?.();
      } catch (error) {
        // Not the error's text: it may come from a driver and carry connection details.
        const name = error instanceof Error ? error.name : "unknown error";
        return finish("failed", [`${consumers[index]?.name ?? "service"}: apply failed (${name})`]);
      }
    }
    for (const step of prepared) step.commit();
    return finish(
      "ok",
      [],
      [...new Set(prepared.flatMap((step) => step.requiresRestart ?? []))].sort(),
    );
  };
}

/** What a service shows of its reloads: /ready detail and metrics read it. */
export type ConfigReloadStatus = {
  /** The configuration running. */
  digests: ConfigDigests;
  /** Start, or the last reload that was applied. */
  lastSuccessAt: Date;
  /** The last reload attempt, if any. */
  last:
    | {
        trigger: ReloadTrigger;
        outcome: ReloadOutcome;
        at: Date;
        digests: ConfigDigests;
        errors: number;
      }
    | undefined;
  counts: Readonly<Record<ReloadOutcome, number>>;
  /** Changed settings waiting for a restart (compared with what the process started with). */
  restartRequired: readonly string[];
};

export type ConfigReloadState = {
  record: (report: ReloadReport) => void;
  status: () => ConfigReloadStatus;
  /** The `config` object of /ready: no error text (it goes to the log), digests and outcome. */
  readyDetail: () => Record<string, unknown>;
};

export function createConfigReloadState(
  digests: ConfigDigests,
  startedAt: Date = new Date(),
): ConfigReloadState {
  let status: ConfigReloadStatus = {
    digests,
    lastSuccessAt: startedAt,
    last: undefined,
    counts: { ok: 0, invalid: 0, failed: 0 },
    restartRequired: [],
  };
  return {
    record(report) {
      const applied = report.outcome === "ok";
      status = {
        digests: applied ? report.digests : status.digests,
        lastSuccessAt: applied ? report.at : status.lastSuccessAt,
        last: {
          trigger: report.trigger,
          outcome: report.outcome,
          at: report.at,
          digests: report.digests,
          errors: report.errors.length,
        },
        counts: { ...status.counts, [report.outcome]: status.counts[report.outcome] + 1 },
        restartRequired: applied ? report.requiresRestart : status.restartRequired,
      };
    },
    status: () => status,
    readyDetail() {
      const { last } = status;
      return {
        // The running configuration is valid either way; this says whether the files on disk are.
        status: last?.outcome ?? "ok",
        digests: status.digests,
        last_success_at: status.lastSuccessAt.toISOString(),
        ...(last === undefined
          ? {}
          : {
              last_reload: {
                trigger: last.trigger,
                outcome: last.outcome,
                at: last.at.toISOString(),
                digests: last.digests,
                errors: last.errors,
              },
            }),
        restart_required: status.restartRequired,
      };
    },
  };
}
