import {
  ExplainRequestSchema,
  verifyAdminView,
  type PolicyView,
} from "../../contract/src/admin-view.ts";
import { parseAdminBody, rejected, runAdminEndpoint } from "./admin-access.ts";
import { viewProblem } from "./admin-limits.ts";
import type { AdminPolicy, Explanation, MatrixCellJson } from "./admin-wire.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * `GET /admin/policy`: the roles × tools matrix of the policy ext-authz runs, with the
 * conditions that make a cell conditional; `POST /admin/policy/explain`: one call (claims or
 * roles, tool, arguments) decided and explained — `npm run policy -- matrix | explain`, computed
 * by ext-authz itself on its running policy.yaml and sent with its allow of the request
 * (contract/src/admin-view.ts): what the operator sees is what ext-authz decides.
 */

export const ADMIN_POLICY_PATH = "/admin/policy";
export const ADMIN_EXPLAIN_PATH = "/admin/policy/explain";

const DECISIONS: Record<string, MatrixCellJson["decision"]> = {
  a: "allow",
  d: "deny",
  c: "conditional",
};

/** The compact view (one letter per cell) as the API's matrix. */
export function expandPolicyView(view: PolicyView): AdminPolicy {
  const operators = new Set(view.operator_roles);
  return {
    roles: view.roles.map((role) => ({ ...role, operator: operators.has(role.name) })),
    operator_roles: view.operator_roles,
    tools: view.tools.map((row) => {
      const conditions = new Map(row.conditions.map(([role = -1, ...rules]) => [role, rules]));
      const cells: Record<string, MatrixCellJson> = {};
      view.roles.forEach((role, index) => {
        const letter = row.cells[index] ?? "d";
        cells[role.name] = {
          decision: DECISIONS[letter.toLowerCase()] ?? "deny",
          dry_run_deny: letter !== letter.toLowerCase(),
          conditions: (conditions.get(index) ?? []).flatMap((rule) => {
            const found = view.rules[rule];
            return found === undefined ? [] : [{ rule: found.path, when: found.when }];
          }),
        };
      });
      return { tool: row.tool, active: row.active, cells };
    }),
  };
}

export function handleAdminPolicy(
  ctx: RouterContext,
  request: RouterRequest,
  verdictKey: string,
): Promise<RouterResponse> {
  return runAdminEndpoint(ctx, request, { method: "GET", audit: "admin/policy" }, async (call) => {
    const view = verifyAdminView(call.adminView, "policy", verdictKey, call.verdict.requestId);
    const unavailable = (problem: string) =>
      rejected(
        call.fail("GW_AUTHZ_UNAVAILABLE", `The policy matrix is unavailable: ${problem}`),
        "view_unavailable",
      );
    if (!view.ok) return unavailable(viewProblem(ctx, call, view.reason));
    if ("unavailable" in view.payload) return unavailable(view.payload.unavailable);
    return { outcome: "ok", response: call.ok(expandPolicyView(view.payload.policy)) };
  });
}

export function handleAdminExplain(
  ctx: RouterContext,
  request: RouterRequest,
  verdictKey: string,
): Promise<RouterResponse> {
  return runAdminEndpoint(
    ctx,
    request,
    { method: "POST", audit: "admin/policy/explain" },
    async (call) => {
      const body = parseAdminBody(call, ExplainRequestSchema);
      if (!body.ok) return body.answer;
      const input = body.value;
      // Claims and arguments are what the operator typed and may be personal: the audit row
      // keeps their names, not their values.
      const recorded = {
        tool: input.tool,
        roles: input.roles ?? null,
        claim_names: Object.keys(input.claims ?? {}).sort(),
        argument_names: Object.keys(input.arguments ?? {}).sort(),
      };
      const view = verifyAdminView(call.adminView, "explain", verdictKey, call.verdict.requestId);
      const unavailable = (problem: string) =>
        rejected(
          call.fail("GW_AUTHZ_UNAVAILABLE", `No explanation: ${problem}`),
          "view_unavailable",
          { arguments: recorded },
        );
      if (!view.ok) return unavailable(viewProblem(ctx, call, view.reason));
      if ("unavailable" in view.payload) return unavailable(view.payload.unavailable);
      const explained = view.payload.explain;
      if (!explained.ok) {
        return rejected(call.fail("GW_INVALID_PARAMS", explained.error), "invalid_params", {
          arguments: recorded,
        });
      }
      const { ok: _ok, ...rest } = explained;
      const explanation: Explanation = {
        ...rest,
        // As given: ext-authz adds subject, tenant and roles for the conditions it evaluates.
        claims: input.claims ?? {},
        arguments: input.arguments ?? {},
      };
      return {
        outcome: "ok",
        response: call.ok(explanation),
        arguments: { ...recorded, decision: explanation.decision },
      };
    },
  );
}
