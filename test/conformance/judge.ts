import type { Expectation } from "./scenarios.ts";

/**
 * A scenario run's verdict from its checks (the suite's and the harness's own), against what
 * scenarios.ts expects of it: not applicable, expected to fail, or not exercised.
 */

export type Check = {
  id: string;
  name?: string;
  status: string;
  errorMessage?: string;
  details?: unknown;
};

export type Status =
  | "pass"
  /** Passed, but checks scenarios.ts names did not run through the gateway (skipped, warned). */
  | "partial"
  | "fail"
  | "timeout"
  | "error"
  | "skipped"
  | "n/a"
  /** Failed as scenarios.ts expects. */
  | "xfail"
  /** An entry of scenarios.ts no longer holds (listed as failing, but passed): stale entry. */
  | "xpass"
  /** Not started: the whole run's time was up. */
  | "not run";

/** The statuses that fail the run. */
export const UNEXPECTED: readonly Status[] = ["fail", "timeout", "error", "xpass", "not run"];

export type Expected = {
  notApplicable: Expectation | undefined;
  expectedFailures: readonly Expectation[];
  notExercised: readonly Expectation[];
};

export type Verdict = {
  status: Status;
  /**
   * failure counts only the checks that count; excused = failed checks listed as not applicable
   * or as expected failures.
   */
  counts: { success: number; failure: number; warning: number; skipped: number; excused: number };
  failures: { id: string; message: string }[];
};

const NONE: Verdict["counts"] = { success: 0, failure: 0, warning: 0, skipped: 0, excused: 0 };

/** A run without checks of its own: killed, no checks.json, or skipped by the suite. */
export function judgeBroken(
  expected: Expected,
  message: string,
  status: "timeout" | "error" | "skipped",
): Verdict {
  if (status === "skipped") return { status, counts: NONE, failures: [] };
  const wholeScenario = expected.notApplicable !== undefined && !expected.notApplicable.checks;
  const wholeRunExpected = expected.expectedFailures.some((entry) => entry.checks === undefined);
  return {
    status: wholeScenario ? "n/a" : wholeRunExpected ? "xfail" : status,
    counts: NONE,
    failures: [{ id: "harness", message }],
  };
}

export function judgeChecks(expected: Expected, checks: readonly Check[]): Verdict {
  const wholeScenario = expected.notApplicable !== undefined && !expected.notApplicable.checks;
  const listed = expected.expectedFailures;
  const wholeRunExpected = listed.some((entry) => entry.checks === undefined);
  const failed = checks.filter((check) => check.status === "FAILURE");
  const notApplicableIds = new Set(expected.notApplicable?.checks ?? []);
  const expectedIds = new Set(listed.flatMap((entry) => entry.checks ?? []));
  const excused = (id: string): boolean =>
    notApplicableIds.has(id) || wholeRunExpected || expectedIds.has(id);
  const counted = failed.filter((check) => !excused(check.id));
  const counts = {
    success: checks.filter((check) => check.status === "SUCCESS").length,
    failure: counted.length,
    warning: checks.filter((check) => check.status === "WARNING").length,
    skipped: checks.filter((check) => check.status === "SKIPPED").length,
    excused: failed.length - counted.length,
  };
  const failures = counted.map((check) => ({
    id: check.id,
    message: check.errorMessage ?? check.name ?? "",
  }));
  if (wholeScenario) return { status: "n/a", counts, failures };
  if (counted.length > 0) return { status: "fail", counts, failures };

  // An entry of scenarios.ts must still hold exactly as listed, or it is stale.
  const failedIds = new Set(failed.map((check) => check.id));
  const succeededIds = new Set(checks.filter((c) => c.status === "SUCCESS").map((c) => c.id));
  const stale = [
    ...(listed.length === 0
      ? []
      : wholeRunExpected
        ? failed.length === 0
          ? [{ id: "the run", what: "an expected failure, but passed" }]
          : []
        : [...expectedIds]
            .filter((id) => !failedIds.has(id))
            .map((id) => ({ id, what: "an expected failure, but did not fail" }))),
    ...expected.notExercised
      .flatMap((entry) => entry.checks ?? [])
      .filter((id) => succeededIds.has(id))
      .map((id) => ({ id, what: "not exercised through the gateway, but succeeded" })),
  ];
  if (stale.length > 0) {
    return {
      status: "xpass",
      counts,
      failures: stale.map(({ id, what }) => ({
        id,
        message: `listed in scenarios.ts as ${what}: update it there`,
      })),
    };
  }
  if (listed.length > 0) return { status: "xfail", counts, failures };
  if (expected.notExercised.length > 0) return { status: "partial", counts, failures };
  // The suite skipped every check itself (e.g. a scenario pending its own rewrite).
  if (counts.success === 0 && counts.skipped > 0) return { status: "skipped", counts, failures };
  return { status: "pass", counts, failures };
}
