import { describe, expect, it } from "vitest";
import { createListenStreams, type ListenFilter } from "../src/listen-streams.ts";
import type { JsonRpcNotification } from "../src/mcp-answer.ts";
import { MAX_RESOURCE_SUBSCRIPTIONS, requestedFilter } from "../src/mcp-listen.ts";
import { MAX_STREAMS_PER_SUBJECT } from "../src/sse-streams.ts";

const NONE: ListenFilter = {
  toolsListChanged: false,
  promptsListChanged: false,
  resourcesListChanged: false,
  resourceSubscriptions: [],
};
const alice = { subject: "alice", tenant: "acme", scope: "docs" };
const note = (method: string, params?: Record<string, unknown>): JsonRpcNotification => ({
  jsonrpc: "2.0",
  method,
  ...(params === undefined ? {} : { params }),
});

function listener(
  filter: Partial<ListenFilter>,
  binding = alice,
  subscriptionId: string | number = 7,
) {
  const received: JsonRpcNotification[] = [];
  let ended = 0;
  return {
    received,
    ended: () => ended,
    spec: {
      binding,
      subscriptionId,
      filter: { ...NONE, ...filter },
      deliver: (notification: JsonRpcNotification) => void received.push(notification),
      end: () => void (ended += 1),
    },
  };
}

describe("listen streams", () => {
  it("delivers only what a stream asked for, tagged with its subscription id", () => {
    const streams = createListenStreams();
    const tools = listener({ toolsListChanged: true });
    const prompts = listener({ promptsListChanged: true }, alice, "p-1");
    const resources = listener({
      resourcesListChanged: true,
      resourceSubscriptions: ["file:///a"],
    });
    for (const each of [tools, prompts, resources]) streams.open(each.spec);

    expect(streams.publishToScope("docs", note("notifications/tools/list_changed"))).toBe(1);
    expect(streams.publishToUser(alice, note("notifications/prompts/list_changed"))).toBe(1);
    expect(streams.publishToUser(alice, note("notifications/resources/list_changed"))).toBe(1);
    expect(
      streams.publishToUser(alice, note("notifications/resources/updated", { uri: "file:///a" })),
    ).toBe(1);
    expect(
      streams.publishToUser(alice, note("notifications/resources/updated", { uri: "file:///b" })),
    ).toBe(0);
    // Log messages belong to requests, never to a listen stream.
    expect(streams.publishToUser(alice, note("notifications/message", { level: "error" }))).toBe(0);

    expect(tools.received).toEqual([
      note("notifications/tools/list_changed", {
        _meta: { "io.modelcontextprotocol/subscriptionId": 7 },
      }),
    ]);
    expect(prompts.received[0]?.params?._meta).toEqual({
      "io.modelcontextprotocol/subscriptionId": "p-1",
    });
    expect(resources.received.map((n) => n.method)).toEqual([
      "notifications/resources/list_changed",
      "notifications/resources/updated",
    ]);
  });

  it("keeps the notification's own _meta beside the subscription id", () => {
    const streams = createListenStreams();
    const one = listener({ resourceSubscriptions: ["u"] });
    streams.open(one.spec);
    streams.publishToUser(
      alice,
      note("notifications/resources/updated", { uri: "u", _meta: { trace: "t" } }),
    );
    expect(one.received[0]?.params).toEqual({
      uri: "u",
      _meta: { trace: "t", "io.modelcontextprotocol/subscriptionId": 7 },
    });
  });

  it("sends a user's notifications to that user's streams on that scope only", () => {
    const streams = createListenStreams();
    const mine = listener({ promptsListChanged: true });
    const otherUser = listener({ promptsListChanged: true }, { ...alice, subject: "bob" });
    const otherTenant = listener({ promptsListChanged: true }, { ...alice, tenant: "other" });
    const otherScope = listener({ promptsListChanged: true }, { ...alice, scope: "git" });
    for (const each of [mine, otherUser, otherTenant, otherScope]) streams.open(each.spec);
    expect(streams.publishToUser(alice, note("notifications/prompts/list_changed"))).toBe(1);
    expect(mine.received).toHaveLength(1);
    expect(otherUser.received.length + otherTenant.received.length).toBe(0);
    expect(otherScope.received).toHaveLength(0);
  });

  it("bounds the streams of one user, forgets closed ones and ends all on shutdown", () => {
    const streams = createListenStreams();
    const opened = Array.from({ length: MAX_STREAMS_PER_SUBJECT }, () => listener({}));
    const handles = opened.map((each) => streams.open(each.spec));
    expect(handles.every((handle) => handle !== undefined)).toBe(true);
    expect(streams.open(listener({}).spec)).toBeUndefined();
    expect(streams.open(listener({}, { ...alice, subject: "bob" }).spec)).toBeDefined();
    handles[0]!.close();
    expect(streams.size()).toBe(MAX_STREAMS_PER_SUBJECT);
    streams.endAll();
    expect(streams.size()).toBe(0);
    expect(opened.slice(1).every((each) => each.ended() === 1)).toBe(true);
    expect(opened[0]!.ended()).toBe(0);
  });
});

describe("requestedFilter", () => {
  it("reads the SubscriptionFilter, absent flags as false, duplicate URIs once", () => {
    expect(
      requestedFilter({ toolsListChanged: true, resourceSubscriptions: ["a", "a", "b"] }),
    ).toEqual({
      ok: true,
      filter: { ...NONE, toolsListChanged: true, resourceSubscriptions: ["a", "b"] },
    });
    expect(requestedFilter({})).toEqual({ ok: true, filter: NONE });
  });

  it.each([
    [undefined, /must be an object/],
    [[], /must be an object/],
    [{ toolsListChanged: "yes" }, /toolsListChanged must be a boolean/],
    [{ promptsListChanged: 1 }, /promptsListChanged must be a boolean/],
    [{ resourcesListChanged: null }, /resourcesListChanged must be a boolean/],
    [{ resourceSubscriptions: "file:///a" }, /resourceSubscriptions/],
    [{ resourceSubscriptions: [""] }, /resourceSubscriptions/],
    [{ resourceSubscriptions: [42] }, /resourceSubscriptions/],
    [{ resourceSubscriptions: ["x".repeat(2049)] }, /resourceSubscriptions/],
    [
      {
        resourceSubscriptions: Array.from(
          { length: MAX_RESOURCE_SUBSCRIPTIONS + 1 },
          (_, i) => `u${i}`,
        ),
      },
      /at most/,
    ],
  ])("refuses %j", (value, detail) => {
    const parsed = requestedFilter(value);
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? "" : parsed.detail).toMatch(detail);
  });
});
