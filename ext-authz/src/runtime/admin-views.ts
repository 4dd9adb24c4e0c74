/**
 * The views ext-authz adds to its allow of an operator's `GET /admin/limits`, `GET /admin/policy`
 * and `POST /admin/policy/explain` (contract/src/admin-view.ts): the counters of its limiter,
 * and `npm run policy -- matrix | explain` on the policy it is running. The router answers those
 * endpoints from them.
 */
import {
  ADMIN_VIEW_HEADER,
  ADMIN_VIEW_KINDS,
  ADMIN_VIEW_ROUTES,
  ExplainRequestSchema,
  signAdminView,
  type AdminViewKind,
  type AdminViewPayload,
  type ExplainView,
  type PolicyView,
  type QuotaUsageSnapshot,
} from "../../../contract/src/admin-view.ts";
import type { GatewayConfig } from "../../../config/src/load-config.ts";
import type { Logger } from "../../../contract/src/log.ts";
import type { Decision, CheckInput } from "../policy/decide.ts";
import { ADMIN_VERDICT_SCOPE } from "../policy/decide.ts";
import type { CompiledPolicy } from "../policy/rbac.ts";
import { pathWithoutQuery } from "../policy/route.ts";
import { explainCall, explanationJson } from "../policy-cli/explain.ts";
import { policyMatrix } from "../policy-cli/policy-matrix.ts";

/** Counters of each kind (user, tool, user+tool) an operator sees on GET /admin/limits. */
export const QUOTA_USAGE_PER_KIND = 25;

export type AdminViewHeaders = (
  input: CheckInput,
  decision: Decision,
) => Promise<Record<string, string>>;

const CELL: Record<"allow" | "deny" | "conditional", string> = {
  allow: "a",
  deny: "d",
  conditional: "c",
};

export function policyView(config: GatewayConfig): PolicyView {
  const matrix = policyMatrix(config);
  const rules: PolicyView["rules"] = [];
  const ruleIndex = new Map<string, number>();
  const indexOf = (path: string, when: string): number => {
    let index = ruleIndex.get(path);
    if (index === undefined) {
      index = rules.push({ path, when }) - 1;
      ruleIndex.set(path, index);
    }
    return index;
  };
  return {
    roles: matrix.roles.map((name) => ({
      name,
      description: config.policy.roles[name]?.description ?? null,
    })),
    operator_roles: [...config.policy.operator_roles],
    rules,
    tools: matrix.rows.map((row) => {
      const conditions: number[][] = [];
      const cells = row.cells
        .map((cell, role) => {
          const withWhen = cell.conditions.filter((rule) => rule.when !== undefined);
          if (withWhen.length > 0) {
            conditions.push([role, ...withWhen.map((rule) => indexOf(rule.path, rule.when!))]);
          }
          const letter = CELL[cell.decision];
          return cell.dryRunDeny ? letter.toUpperCase() : letter;
        })
        .join("");
      return { tool: row.tool, active: row.active, cells, conditions };
    }),
  };
}

export function explainView(
  config: GatewayConfig,
  policy: CompiledPolicy,
  body: Uint8Array,
): ExplainView {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    return { ok: false, error: "the request body is not valid JSON" };
  }
  const parsed = ExplainRequestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      error: `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`,
    };
  }
  const request = parsed.data;
  const explained = explainCall(
    config,
    {
      tool: request.tool,
      ...(request.roles === undefined ? {} : { roles: request.roles }),
      ...(request.claims === undefined ? {} : { claims: request.claims }),
      ...(request.arguments === undefined ? {} : { arguments: request.arguments }),
      ...(request.headers === undefined ? {} : { headers: request.headers }),
    },
    policy,
  );
  // The CLI's messages name its options (`--tool: …`); here they are body fields.
  if (!explained.ok) return { ok: false, error: explained.error.replace(/^--(\w+)/, "$1") };
  const json2 = explanationJson(explained.explanation) as Omit<
    Extract<ExplainView, { ok: true }>,
    "ok"
  > & { claims?: unknown; arguments?: unknown };
  const { claims: _claims, arguments: _arguments, ...rest } = json2;
  return { ok: true, ...rest };
}

/** Which view an allowed request asks for, if any. */
function viewKind(input: CheckInput, decision: Decision): AdminViewKind | undefined {
  if (decision.outcome !== "allow" || decision.scope !== ADMIN_VERDICT_SCOPE) return undefined;
  const path = pathWithoutQuery(input.path);
  const method = input.method.toUpperCase();
  return ADMIN_VIEW_KINDS.find(
    (kind) => ADMIN_VIEW_ROUTES[kind].path === path && ADMIN_VIEW_ROUTES[kind].method === method,
  );
}

export function createAdminViews(options: {
  config: GatewayConfig;
  policy: CompiledPolicy;
  /** The limiter's busiest counters (RuntimeQuotaLimiter.usage). */
  quotaUsage: (perKind: number) => Promise<QuotaUsageSnapshot>;
  verdictKey: string;
  logger: Logger;
}): AdminViewHeaders {
  const sign = <K extends AdminViewKind>(
    kind: K,
    payload: AdminViewPayload<K>,
    requestId: string,
  ): string | undefined => signAdminView(kind, payload, options.verdictKey, requestId);

  async function limitsHeader(requestId: string): Promise<string | undefined> {
    let snapshot: QuotaUsageSnapshot;
    try {
      snapshot = await options.quotaUsage(QUOTA_USAGE_PER_KIND);
    } catch (error) {
      options.logger.warn(
        { requestId, err: error instanceof Error ? error.message : "unknown" },
        "could not read the quota counters for /admin/limits",
      );
      return sign("limits", { unavailable: "ext-authz could not read its counters" }, requestId);
    }
    // Busiest first: when the header would be too large, the quietest counters go.
    let counters = snapshot.counters;
    for (;;) {
      const header = sign("limits", { limits: { ...snapshot, counters } }, requestId);
      if (header !== undefined || counters.length === 0) return header;
      counters = counters.slice(0, Math.floor(counters.length * 0.8));
    }
  }

  return async (input, decision): Promise<Record<string, string>> => {
    const kind = viewKind(input, decision);
    if (kind === undefined) return {};
    const { requestId } = decision;
    let header: string | undefined;
    switch (kind) {
      case "limits":
        header = await limitsHeader(requestId);
        break;
      case "policy":
        header =
          sign("policy", { policy: policyView(options.config) }, requestId) ??
          sign(
            "policy",
            {
              unavailable:
                "the policy matrix is too large to send with a request: see npm run policy -- matrix",
            },
            requestId,
          );
        break;
      case "explain":
        header =
          sign(
            "explain",
            { explain: explainView(options.config, options.policy, input.body) },
            requestId,
          ) ??
          sign(
            "explain",
            { unavailable: "the explanation is too large to send with a request" },
            requestId,
          );
        break;
    }
    return header === undefined ? {} : { [ADMIN_VIEW_HEADER]: header };
  };
}
