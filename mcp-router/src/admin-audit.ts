import type { Kysely } from "kysely";
import { formatCsv } from "../../store/src/audit-cli.ts";
import {
  AUDIT_QUERY_FIELDS,
  AuditQueryError,
  auditEventJson,
  parseAuditQuery,
  queryAuditEvents,
} from "../../store/src/audit-query.ts";
import type { DB } from "../../store/src/schema.ts";
import { rejected, runAdminEndpoint, type AdminAnswer } from "./admin-access.ts";
import type { RouterRequest, RouterResponse } from "./http-types.ts";
import type { RouterContext } from "./router-context.ts";

/**
 * `GET /admin/audit`: the audit log for operators, with the filters and keyset pages of `npm run
 * audit -- query` (store/src/audit-query.ts) as query parameters, answered `{events,
 * next_cursor}`; with `format=csv`, the same page as the CLI's CSV (every column), the next
 * page's cursor in `x-next-cursor`. Authorized, re-checked and audited like every operators'
 * endpoint (admin-access.ts).
 */

export const ADMIN_AUDIT_PATH = "/admin/audit";
export { ADMIN_VERDICT_SCOPE } from "./admin-access.ts";

const FORMATS = ["json", "csv"] as const;

export async function handleAdminAudit(
  ctx: RouterContext,
  request: RouterRequest,
  db: Kysely<DB>,
): Promise<RouterResponse> {
  return runAdminEndpoint(
    ctx,
    request,
    { method: "GET", audit: "admin/audit", query: [...AUDIT_QUERY_FIELDS, "format"] },
    async (call): Promise<AdminAnswer> => {
      const { format = "json", ...filters } = call.query;
      const invalid = (detail: string) =>
        rejected(call.fail("GW_INVALID_PARAMS", detail), "invalid_params");
      if (!(FORMATS as readonly string[]).includes(format)) {
        return invalid(`invalid format "${format}": expected json or csv`);
      }
      let query;
      try {
        query = parseAuditQuery(filters);
      } catch (error) {
        if (!(error instanceof AuditQueryError)) throw error;
        return invalid(error.message);
      }
      const page = await queryAuditEvents(db, query);
      if (format === "csv") {
        return {
          outcome: "ok",
          response: {
            status: 200,
            headers: {
              ...call.headers,
              "content-type": "text/csv; charset=utf-8",
              "content-disposition": 'attachment; filename="audit.csv"',
              ...(page.nextCursor === null ? {} : { "x-next-cursor": page.nextCursor }),
            },
            body: formatCsv(page.events),
          },
        };
      }
      return {
        outcome: "ok",
        response: call.ok({
          events: page.events.map(auditEventJson),
          next_cursor: page.nextCursor,
        }),
      };
    },
  );
}
