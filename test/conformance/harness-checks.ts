import type { ExchangeRecord } from "./auth-proxy.ts";

/**
 * Checks the harness adds to a scenario from the exchanges it recorded, where the suite's own
 * checks cannot see a failure: they are counted like the suite's (a FAILURE fails the run unless
 * scenarios.ts expects it). Ids start with `harness-`.
 */

export type HarnessCheck = {
  id: string;
  name: string;
  status: "SUCCESS" | "FAILURE";
  errorMessage?: string;
};

type Message = { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };

/** The JSON-RPC messages of a recorded body: plain JSON, or the data lines of an SSE stream. */
export function messagesOf(body: string): Message[] {
  const parse = (text: string): Message[] => {
    try {
      const value = JSON.parse(text) as unknown;
      const list = Array.isArray(value) ? value : [value];
      return list.filter((m): m is Message => m !== null && typeof m === "object");
    } catch {
      return [];
    }
  };
  const trimmed = body.trimStart();
  if (trimmed.startsWith("{") || trimmed.startsWith("[")) return parse(trimmed);
  return body
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n"),
    )
    .filter((data) => data !== "")
    .flatMap(parse);
}

/** How the answer to the first `tools/call` of `tool` went, as the client saw it. */
export function toolCallAnswer(
  exchanges: readonly ExchangeRecord[],
  tool: string,
): { kind: "result" } | { kind: "error"; text: string } | { kind: "none"; text: string } {
  for (const exchange of exchanges) {
    const [request] = messagesOf(exchange.request.body) as (Message & {
      method?: unknown;
      params?: { name?: unknown };
    })[];
    if (request?.method !== "tools/call" || request.params?.name !== tool) continue;
    const answer = messagesOf(exchange.response.body).find((m) => m.id === request.id);
    if (answer?.result !== undefined) return { kind: "result" };
    if (answer?.error !== undefined) {
      return {
        kind: "error",
        text: `HTTP ${exchange.response.status}, error ${String(answer.error.code)}: ${String(answer.error.message)}`,
      };
    }
    return {
      kind: "none",
      text: `HTTP ${exchange.response.status}, no answer on the response${exchange.response.complete ? "" : " (stream cut)"}`,
    };
  }
  return { kind: "none", text: `no tools/call of ${tool} was recorded` };
}

/**
 * server-sse-polling: the suite calls `test_reconnection`, whose server closes the POST's SSE
 * stream after a priming event and answers on the resumed stream (SEP-1699). The suite checks
 * only the SSE framing, so a client-facing JSON answer (the gateway may answer JSON) skips every
 * check and passes with none, even when the answer is an error. The call must have a result.
 */
function reconnectionAnswered(exchanges: readonly ExchangeRecord[]): HarnessCheck[] {
  const answer = toolCallAnswer(exchanges, "test_reconnection");
  return [
    {
      id: "harness-sse-polling-call-answered",
      name: "HarnessSsePollingCallAnswered",
      status: answer.kind === "result" ? "SUCCESS" : "FAILURE",
      ...(answer.kind === "result"
        ? {}
        : { errorMessage: `tools/call test_reconnection did not get a result: ${answer.text}` }),
    },
  ];
}

const CHECKS: Readonly<Record<string, (exchanges: readonly ExchangeRecord[]) => HarnessCheck[]>> = {
  "server-sse-polling": reconnectionAnswered,
};

/** The harness's own checks of a scenario run (none for most scenarios). */
export function harnessChecks(
  scenario: string,
  exchanges: readonly ExchangeRecord[],
): HarnessCheck[] {
  const check = Object.hasOwn(CHECKS, scenario) ? CHECKS[scenario] : undefined;
  return check === undefined ? [] : check(exchanges);
}
