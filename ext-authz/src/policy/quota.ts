/**
 * Which quota counters a request spends. The counters themselves live behind `QuotaLimiter`
 * (memory or Redis, see ../runtime/rate-limit.ts), so the decision core stays free of I/O.
 */
import type { QuotaRule } from "./rbac.ts";

export type QuotaKind = "user" | "tool" | "user_tool";

export type QuotaCharge = { kind: QuotaKind; key: string; rule: QuotaRule };

export type QuotaOutcome =
  | { ok: true }
  | { ok: false; limit: number; remaining: number; resetMs: number; retryAfterMs: number };

export type QuotaRefusal = QuotaOutcome & { ok: false };

/** A request's quota verdict: the first charge (narrowest first) that was over its limit. */
export type QuotaSpend = { ok: true } | { ok: false; charge: QuotaCharge; outcome: QuotaRefusal };

export type QuotaLimiter = {
  /** Spends one point; rejects only on an internal fault (the caller then fails closed). */
  consume(charge: QuotaCharge): Promise<QuotaOutcome>;
  /** Gives back a point spent by `consume`; best effort, never rejects. */
  refund(charge: QuotaCharge): Promise<void>;
  /**
   * Spends all charges of one request at once (a shared store answers in one round trip), with
   * the result and counter effects of `spendOneByOne`. Optional: without it, spendQuota spends
   * one charge at a time.
   */
  spendAll?(charges: readonly QuotaCharge[]): Promise<QuotaSpend>;
};

/** Stable counter keys; components are URI-encoded so a crafted subject cannot forge another key. */
export function userKey(tenant: string | null, subject: string): string {
  return `${encodeURIComponent(tenant ?? "")}/${encodeURIComponent(subject)}`;
}

/**
 * Narrowest counter first: user+tool, then user, then the tool's counter shared by every user.
 * A request refused by the caller's own limits therefore never reaches the shared pool, and
 * spendQuota gives back what earlier counters took when a later one refuses.
 */
export function quotaCharges(input: {
  tenant: string | null;
  subject: string;
  userRule: QuotaRule;
  toolCalls: readonly {
    scope: string;
    tool: string;
    toolRule: QuotaRule;
    userToolRule: QuotaRule;
  }[];
}): QuotaCharge[] {
  const user = userKey(input.tenant, input.subject);
  const calls = input.toolCalls.map((call) => ({ ...call, name: `${call.scope}.${call.tool}` }));
  return [
    ...calls.map((call): QuotaCharge => ({
      kind: "user_tool",
      key: `${user}/${call.name}`,
      rule: call.userToolRule,
    })),
    { kind: "user", key: user, rule: input.userRule },
    ...calls.map((call): QuotaCharge => ({ kind: "tool", key: call.name, rule: call.toolRule })),
  ];
}

/** Spends every charge of one request, in one go when the limiter can. */
export function spendQuota(
  limiter: QuotaLimiter,
  charges: readonly QuotaCharge[],
): Promise<QuotaSpend> {
  return limiter.spendAll === undefined
    ? spendOneByOne(limiter, charges)
    : limiter.spendAll(charges);
}

/**
 * Spends every charge in order. On the first refusal the points already taken are given back,
 * so a refused request costs nothing on the counters that allowed it (the refusing counter keeps
 * its point, later counters are never asked).
 */
export async function spendOneByOne(
  limiter: Pick<QuotaLimiter, "consume" | "refund">,
  charges: readonly QuotaCharge[],
): Promise<QuotaSpend> {
  const spent: QuotaCharge[] = [];
  for (const charge of charges) {
    let outcome: QuotaOutcome;
    try {
      outcome = await limiter.consume(charge);
    } catch (error) {
      await Promise.all(spent.map((done) => limiter.refund(done)));
      throw error;
    }
    if (!outcome.ok) {
      await Promise.all(spent.map((done) => limiter.refund(done)));
      return { ok: false, charge, outcome };
    }
    spent.push(charge);
  }
  return { ok: true };
}
