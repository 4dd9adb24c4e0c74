/**
 * What of the official suite does not apply to this gateway. Everything the suite lists runs unless
 * it is named here, so a scenario a later suite version adds runs too (and fails the build until it
 * passes or is listed here with its reason).
 *
 * The gateway is a tools-only MCP server per scope: it declares `tools` (and the
 * io.modelcontextprotocol/tasks extension), never prompts, resources, completions or logging, and
 * its tools never ask the client for input (sampling, elicitation, roots). Many server scenarios
 * also call fixture tools of the suite's own reference server (`test_simple_text`, `slow_compute`,
 * …) that only that server has; they cannot be run against a real deployment.
 */

/** The revisions the gateway serves that the 0.2 suite can drive (its two wires). */
export const REVISIONS = ["2025-11-25", "2026-07-28"] as const;

export type NotApplicable = {
  scenario: string;
  /**
   * Only these check ids are excused (the scenario still runs and its other checks count); without
   * it the whole scenario is skipped.
   */
  checks?: readonly string[];
  reason: string;
};

const noPrompts = "the gateway declares no prompts capability (answers -32601, as the spec says)";
const noResources = "the gateway declares no resources capability (answers -32601)";
const fixtureTool = (names: string): string =>
  `calls the suite's fixture tool ${names}, which only its reference server has`;

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
