import { describe, expect, it } from "vitest";
import type { TaskRow } from "../../store/src/schema.ts";
import { isVisibleTo, REST_VERDICT_SCOPE, type TaskViewer } from "../src/tasks/task-service.ts";
import { isToolAllowed, itemVisible, toolVisible } from "../src/verdict-access.ts";

/** What a verdict lets its caller use and see: named tools, and the patterns of a discovering scope. */

const discovering = {
  tools: ["search"],
  items: { allow: ["tool:*", "prompt:triage-*"], deny: ["tool:delete_*", "prompt:triage-x"] },
};

describe("verdict access", () => {
  it("allows a call only by name, plain in its scope or qualified", () => {
    expect(isToolAllowed(["search"], "tickets", "search")).toBe(true);
    expect(isToolAllowed(["tickets.search"], "tickets", "search")).toBe(true);
    expect(isToolAllowed(["search"], "tickets", "create")).toBe(false);
    expect(isToolAllowed(["wiki.search"], "tickets", "search")).toBe(false);
  });

  it("shows a tool the verdict names or its tool patterns allow and do not deny", () => {
    expect(toolVisible(discovering, "tickets", "search")).toBe(true);
    expect(toolVisible(discovering, "tickets", "create")).toBe(true);
    expect(toolVisible(discovering, "tickets", "delete_all")).toBe(false);
    // Prompt patterns never show a tool, and without patterns only named tools show.
    expect(toolVisible({ tools: [], items: { allow: ["prompt:*"], deny: [] } }, "t", "x")).toBe(
      false,
    );
    expect(toolVisible({ tools: ["search"] }, "tickets", "create")).toBe(false);
  });

  it("shows items by kind: a tool pattern never shows a prompt", () => {
    expect(itemVisible(discovering.items, "prompt:triage-bug")).toBe(true);
    expect(itemVisible(discovering.items, "prompt:triage-x")).toBe(false);
    expect(itemVisible(discovering.items, "resource:file:///a")).toBe(false);
    expect(itemVisible(undefined, "tool:search")).toBe(false);
  });
});

describe("task visibility", () => {
  const now = new Date("2026-11-30T12:00:00Z");
  const task = (scope: string, tool: string, expiresAt = new Date("2026-11-30T13:00:00Z")) =>
    ({ scope, tool, expires_at: expiresAt }) as TaskRow;
  const viewer = (overrides: Partial<TaskViewer>): TaskViewer => ({
    subject: "alice",
    tenant: "acme",
    scope: "tickets",
    tools: [],
    ...overrides,
  });

  it("shows a discovered tool's task to a caller whose patterns allow the tool", () => {
    const inScope = viewer({ items: discovering.items });
    expect(isVisibleTo(task("tickets", "create"), inScope, now)).toBe(true);
    expect(isVisibleTo(task("tickets", "delete_all"), inScope, now)).toBe(false);
    expect(isVisibleTo(task("wiki", "create"), inScope, now)).toBe(false);
    expect(isVisibleTo(task("tickets", "create", now), inScope, now)).toBe(false);
  });

  it("matches the REST view's qualified patterns against scope.tool", () => {
    const rest = viewer({
      scope: REST_VERDICT_SCOPE,
      tools: ["calculator.exact_calculate"],
      items: { allow: ["tool:tickets.*"], deny: ["tool:tickets.delete_*"] },
    });
    expect(isVisibleTo(task("calculator", "exact_calculate"), rest, now)).toBe(true);
    expect(isVisibleTo(task("tickets", "create"), rest, now)).toBe(true);
    expect(isVisibleTo(task("tickets", "delete_all"), rest, now)).toBe(false);
    expect(isVisibleTo(task("wiki", "create"), rest, now)).toBe(false);
  });
});
