/**
 * Fixed payloads of the conformance fixture: the texts the suite's scenarios name, and two tiny
 * binary samples generated for this fixture.
 */

/** A 1×1 PNG, 8-bit RGB, one pixel #2080c0 (generated for this fixture). */
export const PNG_1X1_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNQaDgAAAIkAWHdFJqQAAAAAElFTkSuQmCC";

/** A WAV file: PCM, mono, 8 kHz, 16-bit, eight samples of silence (generated for this fixture). */
export const WAV_SILENCE_BASE64 =
  "UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA";

export const TEXT = {
  simple: "This is a simple text response for testing.",
  embeddedResource: "This is an embedded resource content.",
  mixedIntro: "Multiple content types test:",
  toolError: "This tool intentionally returns an error for testing",
  staticText: "This is the content of the static text resource.",
  watched: "Watched resource content",
  simplePrompt: "This is a simple prompt for testing.",
  promptEmbedded: "Embedded resource content for testing.",
  promptEmbeddedFollowUp: "Please process the embedded resource above.",
  promptImageFollowUp: "Please analyze the image above.",
  reconnection:
    "Reconnection test completed successfully. If you received this, the client properly reconnected after stream closure.",
} as const;

export const URI = {
  embedded: "test://embedded-resource",
  mixed: "test://mixed-content-resource",
  staticText: "test://static-text",
  staticBinary: "test://static-binary",
  template: "test://template/{id}/data",
  watched: "test://watched-resource",
} as const;

export const JSON_SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema";

/**
 * The inputSchema of `json_schema_2020_12_tool`: every keyword the json-schema-2020-12 scenario
 * looks for ($schema, $defs with an $anchor, $ref, allOf/anyOf, if/then/else,
 * additionalProperties: false), published verbatim.
 */
export const JSON_SCHEMA_2020_12_TOOL_INPUT = {
  $schema: JSON_SCHEMA_2020_12,
  type: "object",
  $defs: {
    address: {
      $anchor: "addressDef",
      type: "object",
      properties: { street: { type: "string" }, city: { type: "string" } },
    },
  },
  properties: {
    name: { type: "string" },
    address: { $ref: "#/$defs/address" },
    contactMethod: { type: "string", enum: ["phone", "email"] },
    phone: { type: "string" },
    email: { type: "string" },
  },
  allOf: [{ anyOf: [{ required: ["phone"] }, { required: ["email"] }] }],
  if: { properties: { contactMethod: { const: "phone" } }, required: ["contactMethod"] },
  then: { required: ["phone"] },
  else: { required: ["email"] },
  additionalProperties: false,
} as const;

/**
 * The skills the fixture publishes through the skills extension (SEP-2640): one skill with a
 * SKILL.md and a file in a subdirectory, so directory reads have a subdirectory to list.
 */
export const FIXTURE_SKILL_FILES: Record<string, string> = {
  "fixture-greeting/SKILL.md": [
    "---",
    "name: fixture-greeting",
    "description: Greets someone with the greet tool of the conformance fixture.",
    "---",
    "",
    "# Greeting",
    "",
    "Call the `greet` tool with the person's name; see references/GUIDE.md for the wording.",
    "",
  ].join("\n"),
  "fixture-greeting/references/GUIDE.md": [
    "# Wording",
    "",
    "Keep greetings short: `Hello, {name}!`.",
    "",
  ].join("\n"),
};
