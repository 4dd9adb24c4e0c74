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

export type QuotaLimiter = {
  /** Spends one point; rejects only on an internal fault (the caller then fails closed). */
  consume(charge: QuotaCharge): Promise<QuotaOutcome>;
};

/** Stable counter keys; components are URI-encoded so a crafted subject cannot forge another key. */
export function userKey(tenant: string | null, subject: string): string {
  return `${encodeURIComponent(tenant ?? "")}/${encodeURIComponent(subject)}`;
}

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
  const charges: QuotaCharge[] = [{ kind: "user", key: user, rule: input.userRule }];
  for (const call of input.toolCalls) {
    const tool = `${call.scope}.${call.tool}`;
    charges.push({ kind: "tool", key: tool, rule: call.toolRule });
    charges.push({ kind: "user_tool", key: `${user}/${tool}`, rule: call.userToolRule });
  }
  return charges;
}
