import { toolEntry } from "../../../config/src/tools-schema.ts";
import type { TaskRow } from "../../../store/src/schema.ts";
import { roundOwner } from "../input-required.ts";
import {
  createChannel,
  failure,
  result,
  type FinalAnswer,
  type McpAnswer,
  type McpCall,
  type StreamItem,
} from "../mcp-answer.ts";
import type { RouterContext } from "../router-context.ts";
import type { ServerRequest, ServerRequestAnswer } from "../server-requests.ts";
import type { ClientCapability } from "../session.ts";
import { hasStatelessUpstream } from "../upstream/stateless-upstream.ts";
import type { HeldAnnouncement, StartTaskInput } from "./task-service.ts";
import { modernTask } from "./task-wire.ts";

/**
 * SEP-2663 composed with SEP-2322: a tool may ask for input synchronously (an InputRequiredResult
 * of tools/call, no task yet) and only then run as a task. For a 2026-07-28 client that can answer
 * input, the gateway creates its task at once (row, lease, backend call) but holds the
 * CreateTaskResult back while the server's first requests go to the client in input rounds
 * (input-rounds.ts). It announces the task when a 2026-07-28 server runs a task of its own, when
 * the client has answered what a 2025 server's `input_before_task` tool asked, when the server
 * makes no move for `tasks.input_window_ms`, or when the call ends. What the server asks after the
 * announcement is the task's input (task-input.ts).
 */

/**
 * `server`: a 2026-07-28 server says when its task begins. `answers`: a 2025 server cannot, so
 * its first round of requests is gathered before the task and the task is announced once they
 * are answered.
 */
export type InputFirst = "server" | "answers";

/** Whether this task call gathers the server's first input before the task is announced. */
export function inputFirst(
  ctx: RouterContext,
  scope: string,
  tool: string,
  capabilities: readonly ClientCapability[],
): InputFirst | undefined {
  const scopeConfig = ctx.config.tools.scopes[scope];
  if (scopeConfig?.mcp_server === undefined || capabilities.length === 0) return undefined;
  if (ctx.config.tools.tasks.input_window_ms === 0) return undefined;
  if (hasStatelessUpstream(scopeConfig)) return "server";
  return toolEntry(scopeConfig, tool)?.input_before_task === true ? "answers" : undefined;
}

/**
 * Starts the task with its announcement held; undefined when no round can be opened (too many),
 * and the caller announces at once.
 */
export function startTaskAfterInput(
  ctx: RouterContext,
  call: McpCall,
  input: StartTaskInput,
  mode: InputFirst,
): McpAnswer | undefined {
  const items = createChannel<StreamItem>();
  const round = ctx.inputRounds.start(
    roundOwner(call, "tools/call", input.tool),
    items,
    call.signal,
    ctx.config.tools.scopes[call.scope]?.timeout_ms ?? 30_000,
  );
  if (round === undefined) return undefined;
  const windowMs = ctx.config.tools.tasks.input_window_ms;

  let open = true;
  let outstanding = 0;
  let created: TaskRow | undefined;
  /** Decided before start() returned the row. */
  let due = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const waitForMove = () => {
    clearTimeout(timer);
    timer = setTimeout(() => announce(undefined), windowMs);
  };

  const announce = (row: TaskRow | undefined, ended = false): void => {
    if (!open || round.signal.aborted) return;
    const task = row ?? created;
    if (task === undefined && !ended) {
      due = true;
      return;
    }
    open = false;
    clearTimeout(timer);
    round.finish(
      task === undefined
        ? failure("GW_INTERNAL", { detail: "The task's outcome could not be read" })
        : result(modernTask(task), { resultType: "task" }),
    );
  };

  round.signal.addEventListener(
    "abort",
    () => {
      open = false;
      clearTimeout(timer);
    },
    { once: true },
  );

  const held: HeldAnnouncement = {
    signal: round.signal,
    ask(request: ServerRequest): Promise<ServerRequestAnswer> | undefined {
      if (!open) return undefined;
      outstanding += 1;
      clearTimeout(timer);
      return round.ask(request).then((answer) => {
        outstanding -= 1;
        if (open && outstanding === 0) {
          if (mode === "answers") announce(undefined);
          else waitForMove();
        }
        return answer;
      });
    },
    serverTaskStarted: () => announce(undefined),
    ended: (task) => announce(task, true),
  };

  waitForMove();
  const refuse = (answer: FinalAnswer) => {
    open = false;
    clearTimeout(timer);
    round.finish(answer);
  };
  void ctx.tasks.start({ ...input, heldAnnouncement: held }).then(
    (started) => {
      if (!started.ok) return refuse(failure(started.error));
      created = started.task;
      if (due) announce(undefined);
    },
    (error: unknown) => {
      call.logger.error({ err: error }, "could not start the task");
      refuse(failure("GW_INTERNAL"));
    },
  );
  return { kind: "stream", items };
}
