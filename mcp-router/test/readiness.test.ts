import { afterEach, describe, expect, it, vi } from "vitest";
import { handleReady, type ReadinessProbe } from "../src/ops-endpoints.ts";

const probe = (name: string, check: () => Promise<boolean>): ReadinessProbe => ({ name, check });
const never = () => new Promise<boolean>(() => undefined);

async function ready(probes: readonly ReadinessProbe[]) {
  const response = await handleReady(probes);
  if (!("body" in response)) throw new Error("expected a plain response");
  return { status: response.status, body: JSON.parse(String(response.body)) as unknown };
}

describe("/ready", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("is ready when every probe is", async () => {
    expect(await ready([probe("database", async () => true)])).toEqual({
      status: 200,
      body: { status: "ready", checks: { database: "ok" } },
    });
  });

  it("names a probe that fails or throws (database down) and is not ready", async () => {
    const refused = probe("database", async () => {
      throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    });
    expect(await ready([refused, probe("registry", async () => false)])).toEqual({
      status: 503,
      body: { status: "not_ready", checks: { database: "failing", registry: "failing" } },
    });
  });

  it("answers within its bound when a dependency hangs, and shares the pending check", async () => {
    vi.useFakeTimers();
    const check = vi.fn(never);
    const hanging = probe("database", check);
    const first = ready([hanging, probe("registry", async () => true)]);
    const second = ready([hanging]);
    await vi.advanceTimersByTimeAsync(800);
    expect(await first).toEqual({
      status: 503,
      body: { status: "not_ready", checks: { database: "timeout", registry: "ok" } },
    });
    expect((await second).body).toMatchObject({ checks: { database: "timeout" } });
    // Still pending: later polls wait on it rather than queueing another query behind it.
    const third = ready([hanging]);
    await vi.advanceTimersByTimeAsync(800);
    await third;
    expect(check).toHaveBeenCalledTimes(1);
  });

  it("checks again once the previous check has settled (recovery is seen)", async () => {
    let up = false;
    const database = probe("database", async () => up);
    expect((await ready([database])).status).toBe(503);
    up = true;
    expect((await ready([database])).status).toBe(200);
  });
});
