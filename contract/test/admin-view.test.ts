import { describe, expect, it } from "vitest";
import {
  ADMIN_VIEW_MAX_HEADER_BYTES,
  signAdminView,
  verifyAdminView,
  type AdminViewPayload,
} from "../src/admin-view.ts";

const KEY = "admin-view-key-0123456789abcdef0123456789";
const limits: AdminViewPayload<"limits"> = {
  limits: {
    taken_at: "2026-11-30T09:00:00.000Z",
    store: "memory",
    degraded: false,
    tracked: 1,
    counters: [
      { kind: "user", key: "acme/alice", used: 3, limit: 10, window_seconds: 60, reset_in_ms: 100 },
    ],
  },
};

/** The payload segment with its first character changed. */
function tamper(header: string): string {
  const parts = header.split(".");
  const payload = parts[2]!;
  parts[2] = `${payload[0] === "A" ? "B" : "A"}${payload.slice(1)}`;
  return parts.join(".");
}

describe("x-gateway-admin-view", () => {
  it("round-trips a view for the request it was signed for", () => {
    const header = signAdminView("limits", limits, KEY, "req-1")!;
    expect(header).toMatch(/^v1\.limits\.[A-Za-z0-9_-]+\.[0-9a-f]{64}$/);
    expect(verifyAdminView(header, "limits", KEY, "req-1")).toEqual({ ok: true, payload: limits });
  });

  it.each([
    ["another request", (h: string) => h, "req-2", KEY, "limits", "bad_signature"],
    ["another key", (h: string) => h, "req-1", `${KEY}x`, "limits", "bad_signature"],
    ["another endpoint", (h: string) => h, "req-1", KEY, "policy", "wrong_kind"],
    ["a changed payload", (h: string) => tamper(h), "req-1", KEY, "limits", "bad_signature"],
    [
      "a kind swapped in the header",
      (h: string) => h.replace("v1.limits.", "v1.policy."),
      "req-1",
      KEY,
      "policy",
      "bad_signature",
    ],
    ["garbage", () => "v1.limits.%%%.00", "req-1", KEY, "limits", "malformed"],
    ["nothing", () => "", "req-1", KEY, "limits", "missing"],
  ] as const)("refuses %s", (_name, change, requestId, key, kind, reason) => {
    const header = change(signAdminView("limits", limits, KEY, "req-1")!);
    expect(verifyAdminView(header, kind, key, requestId)).toEqual({ ok: false, reason });
  });

  it("refuses a genuine signature over a payload of the wrong shape", () => {
    const forged = signAdminView(
      "limits",
      { limits: { ...limits.limits, store: "disk" } } as unknown as AdminViewPayload<"limits">,
      KEY,
      "req-1",
    );
    expect(verifyAdminView(forged, "limits", KEY, "req-1")).toEqual({
      ok: false,
      reason: "malformed",
    });
  });

  it("gives no header for a view too large for a request header", () => {
    const random = Array.from({ length: 4000 }, (_, i) => ({
      kind: "user" as const,
      key: `t/${Math.random().toString(36)}${i}`,
      used: i,
      limit: i + 1,
      window_seconds: 60,
      reset_in_ms: i,
    }));
    const big = signAdminView(
      "limits",
      { limits: { ...limits.limits, counters: random } },
      KEY,
      "r",
    );
    expect(big).toBeUndefined();
    expect(signAdminView("limits", limits, KEY, "r")!.length).toBeLessThan(
      ADMIN_VIEW_MAX_HEADER_BYTES,
    );
  });
});
