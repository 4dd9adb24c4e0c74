/**
 * What of the official suite is not expected to pass, per backend the harness can put behind the
 * gateway (docs/conformance.md). Everything the suite lists runs unless it is named here, so a
 * scenario a later suite version adds runs too (and fails the build until it passes or is listed
 * here with its reason).
 *
 * - `calculator` (`--backend calculator`): the gateway's own calculator scope, a gateway tool
 *   server. It declares `tools` (and the io.modelcontextprotocol/tasks extension), never prompts,
 *   resources, completions or logging, and its tools never ask the client for input. Many server
 *   scenarios call fixture tools of the suite's own reference server (`test_simple_text`,
 *   `slow_compute`, …) that the calculator does not have: NOT_APPLICABLE.
 * - `fixture` (`--backend fixture`, the default): the conformance fixture
 *   (test/conformance-fixture), which has every one of them, as a standard MCP server behind the
 *   `conformance` scope. What still fails through the gateway is listed in
 *   FIXTURE_EXPECTED_FAILURES with the precise cause; those runs still run, a listed failure does
 *   not fail the build, and a listed failure that no longer happens does (the list stays exact).
 */

/** The revisions the gateway serves that the 0.2 suite can drive (its two wires). */
export const REVISIONS = ["2025-11-25", "2026-07-28"] as const;

export const BACKENDS = ["fixture", "calculator"] as const;
export type Backend = (typeof BACKENDS)[number];

export type Expectation = {
  scenario: string;
  /** Only the runs of this suite version (default: both). */
  suite?: "0.1" | "0.2";
  /** Only the runs at this wire: a revision, or `extension` (default: every wire). */
  wire?: string;
  /** `--backend fixture`: only when the gateway reaches the fixture over this transport. */
  transport?: "streamable-http" | "stdio";
  /** `--backend fixture`: only when the router speaks this revision to the fixture. */
  upstream?: "2025-11-25" | "2026-07-28";
  /**
   * Only these check ids (the scenario still runs and its other checks count); without it the
   * whole run is meant.
   */
  checks?: readonly string[];
  reason: string;
};
/** Kept for the calculator list's readers: a not-applicable entry is an Expectation. */
export type NotApplicable = Expectation;

/** Whether `entry` names this run (scenario, and suite/wire/transport when the entry gives them). */
export function expectationMatches(
  entry: Expectation,
  run: {
    suite: string;
    scenario: string;
    wire: string;
    transport?: string | undefined;
    upstream?: string | undefined;
  },
): boolean {
  return (
    entry.scenario === run.scenario &&
    (entry.suite === undefined || entry.suite === run.suite) &&
    (entry.wire === undefined || entry.wire === run.wire) &&
    (entry.transport === undefined || entry.transport === run.transport) &&
    (entry.upstream === undefined || entry.upstream === (run.upstream ?? "2025-11-25"))
  );
}

const noPrompts = "the gateway declares no prompts capability (answers -32601, as the spec says)";
const noResources = "the gateway declares no resources capability (answers -32601)";
const fixtureTool = (names: string): string =>
  `calls the suite's fixture tool ${names}, which only its reference server has`;

/** `--backend calculator`: what the calculator scope cannot serve. */
export const NOT_APPLICABLE: readonly NotApplicable[] = [
  // Features the gateway does not offer.
  { scenario: "logging-set-level", reason: "the gateway declares no logging capability" },
  {
    scenario: "completion-complete",
    reason: "no completions capability (completes prompt test_prompt_with_arguments)",
  },
  { scenario: "resources-list", reason: noResources },
  { scenario: "resources-read-text", reason: noResources },
  { scenario: "resources-read-binary", reason: noResources },
  { scenario: "resources-templates-read", reason: noResources },
  { scenario: "resources-subscribe", reason: noResources },
  { scenario: "resources-unsubscribe", reason: noResources },
  { scenario: "sep-2164-resource-not-found", reason: noResources },
  { scenario: "prompts-list", reason: noPrompts },
  { scenario: "prompts-get-simple", reason: noPrompts },
  { scenario: "prompts-get-with-args", reason: noPrompts },
  { scenario: "prompts-get-embedded-resource", reason: noPrompts },
  { scenario: "prompts-get-with-image", reason: noPrompts },
  {
    scenario: "caching",
    checks: [
      "sep-2549-prompts-list-caching-hints",
      "sep-2549-resources-list-caching-hints",
      "sep-2549-resources-templates-list-caching-hints",
    ],
    reason: "prompts/list and resources/*list: no prompts or resources capability (-32601)",
  },

  // Fixture tools of the suite's reference server.
  { scenario: "tools-call-simple-text", reason: fixtureTool("test_simple_text") },
  { scenario: "tools-call-image", reason: fixtureTool("test_image_content") },
  { scenario: "tools-call-audio", reason: fixtureTool("test_audio_content") },
  { scenario: "tools-call-embedded-resource", reason: fixtureTool("test_embedded_resource") },
  { scenario: "tools-call-mixed-content", reason: fixtureTool("test_multiple_content_types") },
  { scenario: "tools-call-error", reason: fixtureTool("test_error_handling") },
  { scenario: "tools-call-with-progress", reason: fixtureTool("test_tool_with_progress") },
  {
    scenario: "tools-call-with-logging",
    reason: `${fixtureTool("test_tool_with_logging")}; no logging capability`,
  },
  {
    scenario: "tools-call-sampling",
    reason: `${fixtureTool("test_sampling")}; no gateway tool asks the client to sample`,
  },
  {
    scenario: "tools-call-elicitation",
    reason: `${fixtureTool("test_elicitation")}; no gateway tool elicits`,
  },
  {
    scenario: "elicitation-sep1034-defaults",
    reason: fixtureTool("test_elicitation_sep1034_defaults"),
  },
  { scenario: "elicitation-sep1330-enums", reason: fixtureTool("test_elicitation_sep1330_enums") },
  { scenario: "json-schema-2020-12", reason: fixtureTool("json_schema_2020_12_tool") },
  {
    scenario: "server-sse-polling",
    reason: `${fixtureTool("test_reconnection")} (closes its SSE stream mid-call); no check runs without it`,
  },
  {
    scenario: "http-custom-header-server-validation",
    reason:
      "needs a tool whose inputSchema marks parameters with x-mcp-header; the gateway's have none",
  },
  {
    scenario: "server-stateless",
    checks: [
      "sep-2575-server-rejects-undeclared-capability",
      "sep-2575-missing-capability-http-400",
      "sep-2575-http-server-no-independent-requests-on-stream",
      "sep-2575-server-no-log-without-loglevel",
    ],
    reason: fixtureTool("test_missing_capability, test_streaming_elicitation, test_logging_tool"),
  },
  ...[
    "basic-elicitation",
    "basic-sampling",
    "basic-list-roots",
    "request-state",
    "multiple-input-requests",
    "multi-round",
    "missing-input-response",
    "non-tool-request",
    "result-type",
    "tampered-state",
    "capability-check",
    "ignore-extra-params",
    "validate-input",
  ].map((name) => ({
    scenario: `input-required-result-${name}`,
    reason: `${fixtureTool("test_input_required_result_*")} (or prompts/get); no gateway tool asks the client for input`,
  })),

  // The tasks extension: the gateway advertises it, but most checks drive fixture tools.
  ...[
    "tasks-lifecycle",
    "tasks-wire-fields",
    "tasks-request-state-removal",
    "tasks-mrtr-input",
    "tasks-mrtr-composition",
    "tasks-required-task-error",
  ].map((scenario) => ({
    scenario,
    reason: fixtureTool(
      "greet, slow_compute, failing_job, protocol_error_job, confirm_delete, multi_input or test_tool_with_task",
    ),
  })),
  {
    scenario: "tasks-capability-negotiation",
    checks: ["sep-2663-server-rejects-undeclared-client", "tasks-per-request-meta-opt-in"],
    reason: fixtureTool("slow_compute"),
  },
  {
    scenario: "tasks-dispatch-and-envelope",
    checks: [
      "tasks-server-directed-creation-no-hint",
      "sep-2663-legacy-task-param-ignored",
      "tasks-immediate-result-shortcut",
      "tasks-result-type-complete-on-non-task-responses",
      "sep-2663-durable-create-strong-consistency",
    ],
    reason: fixtureTool("failing_job, greet, slow_compute"),
  },
  {
    scenario: "tasks-request-headers",
    checks: [
      "tasks-headers-tolerate-mcp-method-on-tools-call",
      "sep-2663-routing-headers-accepted-on-tasks-get",
      "sep-2663-server-rejects-mismatched-mcp-name-on-tasks-get",
    ],
    reason: fixtureTool("greet, slow_compute"),
  },
];

/**
 * `--backend fixture`: scenarios that do not apply to a gateway in front of an MCP server. None:
 * every server scenario of both suites has its fixture and is meant to pass through the gateway.
 */
export const FIXTURE_NOT_APPLICABLE: readonly Expectation[] = [];

// Causes of the failures below, observed in each run's exchanges.jsonl (client ↔ gateway) and,
// with --trace-upstream, upstream-exchanges.jsonl (gateway ↔ fixture). docs/conformance.md has
// the evidence for each.
const serverChosenKeys =
  "the router speaks 2025-11-25 to the fixture, which then asks with real requests that carry no key; the gateway names them input-1, input-2, … in its InputRequiredResult, where the suite expects the key its 2026-07-28 reference tool chooses (user_name), which the server's own InputRequiredResult carries when the router speaks 2026-07-28 to it (--upstream-version 2026-07-28: passes)";

/**
 * `--backend fixture`: runs that fail through the gateway today, each with its cause (a relay
 * feature the gateway lacks, or a gateway bug). The run's exit status ignores these failures and
 * fails when one of them passes (remove it here then).
 */
export const FIXTURE_EXPECTED_FAILURES: readonly Expectation[] = [
  // Input requests (SEP-2322) for 2026-07-28 clients: keys are the server's to choose.
  {
    scenario: "input-required-result-basic-elicitation",
    wire: "2026-07-28",
    upstream: "2025-11-25",
    checks: ["sep-2322-elicitation-incomplete"],
    reason: serverChosenKeys,
  },
];

/**
 * `--backend fixture`: runs the suite passes through the gateway although the named checks, which
 * succeed against the fixture directly, did not succeed (the suite skipped them or only warned):
 * the feature was not exercised. A listed check that succeeds fails the run (remove it here then).
 */
export const FIXTURE_NOT_EXERCISED: readonly (Expectation & { checks: readonly string[] })[] = [
  {
    scenario: "input-required-result-ignore-extra-params",
    wire: "2026-07-28",
    upstream: "2025-11-25",
    checks: ["sep-2322-ignore-unexpected-params"],
    reason: `a warning only: the first call already carries inputResponses keyed user_name, which a 2025-11-25 server never asked for; ${serverChosenKeys}`,
  },
];

/** The lists that apply to a backend. */
export function expectationsFor(backend: Backend): {
  notApplicable: readonly Expectation[];
  expectedFailures: readonly Expectation[];
  notExercised: readonly Expectation[];
} {
  return backend === "calculator"
    ? { notApplicable: NOT_APPLICABLE, expectedFailures: [], notExercised: [] }
    : {
        notApplicable: FIXTURE_NOT_APPLICABLE,
        expectedFailures: FIXTURE_EXPECTED_FAILURES,
        notExercised: FIXTURE_NOT_EXERCISED,
      };
}
