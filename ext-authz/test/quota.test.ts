import { describe, expect, it } from "vitest";
import {
  spendOneByOne,
  spendQuota,
  type QuotaCharge,
  type QuotaLimiter,
  type QuotaOutcome,
} from "../src/policy/quota.ts";

/** Spending one charge at a time against a scripted limiter that records every call. */
const rule = { points: 1, durationMs: 60_000 };
const charges: QuotaCharge[] = [
  { kind: "user_tool", key: "acme/alice/calc.add", rule },
  { kind: "user", key: "acme/alice", rule },
  { kind: "tool", key: "calc.add", rule },
];
const refusal: QuotaOutcome = {
  ok: false,
  limit: 1,
  remaining: 0,
  resetMs: 1_000,
  retryAfterMs: 1_000,
};

function scripted(answer: (charge: QuotaCharge) => Promise<QuotaOutcome>) {
  const log: string[] = [];
  const limiter: Pick<QuotaLimiter, "consume" | "refund"> = {
    consume: (charge) => {
      log.push(`consume ${charge.key}`);
      return answer(charge);
    },
    refund: async (charge) => {
      log.push(`refund ${charge.key}`);
    },
  };
  return { limiter, log };
}

describe("spending quota one charge at a time", () => {
  it("spends every charge in order when all allow", async () => {
    const { limiter, log } = scripted(() => Promise.resolve({ ok: true }));
    expect(await spendOneByOne(limiter, charges)).toEqual({ ok: true });
    expect(log).toEqual(charges.map((charge) => `consume ${charge.key}`));
  });

  it("gives back what earlier counters took when a later one refuses, and stops there", async () => {
    const { limiter, log } = scripted((charge) =>
      Promise.resolve(charge.kind === "user" ? refusal : { ok: true }),
    );
    expect(await spendOneByOne(limiter, charges)).toEqual({
      ok: false,
      charge: charges[1],
      outcome: refusal,
    });
    expect(log).toEqual([
      "consume acme/alice/calc.add",
      "consume acme/alice",
      "refund acme/alice/calc.add",
    ]);
  });

  it("gives back what earlier counters took when a later one fails, then rethrows", async () => {
    const fault = new Error("redis down");
    const { limiter, log } = scripted((charge) =>
      charge.kind === "tool" ? Promise.reject(fault) : Promise.resolve({ ok: true }),
    );
    await expect(spendOneByOne(limiter, charges)).rejects.toBe(fault);
    expect(log.slice(0, 3)).toEqual([
      "consume acme/alice/calc.add",
      "consume acme/alice",
      "consume calc.add",
    ]);
    expect(log.slice(3).sort()).toEqual(["refund acme/alice", "refund acme/alice/calc.add"]);
  });

  it("refunds nothing when the first counter fails", async () => {
    const { limiter, log } = scripted(() => Promise.reject(new Error("redis down")));
    await expect(spendOneByOne(limiter, charges)).rejects.toThrow("redis down");
    expect(log).toEqual(["consume acme/alice/calc.add"]);
  });

  it("lets a limiter that can spend everything at once do so", async () => {
    const { limiter, log } = scripted(() => Promise.resolve({ ok: true }));
    const seen: (readonly QuotaCharge[])[] = [];
    const spend = await spendQuota(
      {
        ...limiter,
        spendAll: (all) => {
          seen.push(all);
          return Promise.resolve({ ok: false, charge: all[0]!, outcome: refusal });
        },
      },
      charges,
    );
    expect(spend).toEqual({ ok: false, charge: charges[0], outcome: refusal });
    expect(seen).toEqual([charges]);
    expect(log).toEqual([]);
  });
});
