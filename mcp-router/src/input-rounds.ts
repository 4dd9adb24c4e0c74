import { randomBytes } from "node:crypto";
import { isRecord } from "./forwarding.ts";
import type { FinalAnswer, JsonRpcNotification, StreamItem } from "./mcp-answer.ts";
import type { ServerRequest, ServerRequestAnswer } from "./server-requests.ts";

/**
 * Input requests for 2026-07-28 clients (SEP-2322). A stateless client cannot be sent a request
 * over a stream; instead the answer to its call is an InputRequiredResult naming what the server
 * asks (`inputRequests`), and the client calls again with `inputResponses` and the `requestState`
 * it was given. The gateway speaks a 2025 revision to the server, which asks with real requests in
 * the middle of the call (or, while a task's announcement is held, a 2026-07-28 server whose rounds
 * the upstream client turns into such requests): a round keeps that call running between the
 * client's attempts, holds
 * the server's requests until the client answers them, and hands the call's end to whichever
 * attempt is waiting. The state is an unguessable id of a round in this replica's memory, bound to
 * the user, scope and request it was issued for and replaced at every round; anything else (an
 * edited, expired or foreign state) is refused.
 */

/** Server requests arriving this close together are asked in one InputRequiredResult. */
const GATHER_MS = 25;
/** Rounds open at once on one replica: each holds a running upstream call. */
const MAX_ROUNDS = 10_000;

export type RoundOwner = {
  subject: string;
  tenant: string | null;
  scope: string;
  method: string;
  /** The tool, prompt or resource the request names. */
  target: string;
};

/** Where a round's messages go while a client attempt is waiting on it. */
export type RoundSink = { push(item: StreamItem): void; close(): void };

type Outstanding = {
  request: ServerRequest;
  resolve: (answer: ServerRequestAnswer) => void;
};

export type InputRound = {
  /** Aborted when the round ends without its call finishing (client gone, expired, shutdown). */
  readonly signal: AbortSignal;
  /** For the upstream call: the server's request, answered when the client answers it. */
  ask(request: ServerRequest): Promise<ServerRequestAnswer>;
  notify(notification: JsonRpcNotification): void;
  /** The upstream call ended: its answer goes to the waiting attempt, or the next one. */
  finish(answer: FinalAnswer): void;
};

export type ResumeOutcome = { ok: true } | { ok: false; detail: string };

export type InputRounds = {
  /** A new round with `sink` (the first attempt) attached; undefined when too many are open. */
  start(
    owner: RoundOwner,
    sink: RoundSink,
    clientSignal: AbortSignal,
    ttlMs: number,
  ): InputRound | undefined;
  /**
   * A later attempt: answers the server's requests from `inputResponses` and attaches `sink`,
   * which gets the call's end, or the next InputRequiredResult.
   */
  resume(
    requestState: string,
    owner: RoundOwner,
    inputResponses: unknown,
    sink: RoundSink,
    clientSignal: AbortSignal,
  ): ResumeOutcome;
  /** Whether `requestState` names a round of this replica (else it may be a server's own). */
  holds(requestState: string): boolean;
  size(): number;
  closeAll(): void;
};

function sameOwner(a: RoundOwner, b: RoundOwner): boolean {
  return (
    a.subject === b.subject &&
    a.tenant === b.tenant &&
    a.scope === b.scope &&
    a.method === b.method &&
    a.target === b.target
  );
}

/** An input response as the server gets it: the client's result object, or an error. */
function answerOf(response: unknown): ServerRequestAnswer {
  return isRecord(response)
    ? { result: response }
    : { error: { code: -32603, message: "The client's input response was not an object" } };
}

export function createInputRounds(options: { maxRounds?: number } = {}): InputRounds {
  const maxRounds = options.maxRounds ?? MAX_ROUNDS;
  const byState = new Map<string, Round>();
  /** Every round whose end no attempt has received yet, with a state or between states. */
  const live = new Set<Round>();

  class Round implements InputRound {
    readonly owner: RoundOwner;
    readonly #controller = new AbortController();
    readonly #ttlMs: number;
    readonly #outstanding = new Map<string, Outstanding>();
    #nextKey = 1;
    #state: string | undefined;
    #sink: RoundSink | undefined;
    #detach: (() => void) | undefined;
    #ended: FinalAnswer | undefined;
    #gather: ReturnType<typeof setTimeout> | undefined;
    #expiry: ReturnType<typeof setTimeout> | undefined;

    constructor(owner: RoundOwner, ttlMs: number) {
      this.owner = owner;
      this.#ttlMs = ttlMs;
    }

    get signal(): AbortSignal {
      return this.#controller.signal;
    }

    attach(sink: RoundSink, clientSignal: AbortSignal): void {
      clearTimeout(this.#expiry);
      this.#sink = sink;
      // A client that leaves while its attempt waits ends the round and the call with it.
      const onAbort = () => this.end();
      clientSignal.addEventListener("abort", onAbort, { once: true });
      this.#detach = () => clientSignal.removeEventListener("abort", onAbort);
      if (clientSignal.aborted) {
        this.end();
        return;
      }
      if (this.#ended !== undefined) {
        this.#deliver(this.#ended);
        return;
      }
      // What this attempt left unanswered, and what the server asked while no attempt waited,
      // is asked at once.
      if (this.#outstanding.size > 0) this.#flush();
    }

    answer(inputResponses: Record<string, unknown>): void {
      for (const [key, response] of Object.entries(inputResponses)) {
        const entry = this.#outstanding.get(key);
        if (entry === undefined) continue;
        this.#outstanding.delete(key);
        entry.resolve(answerOf(response));
      }
    }

    ask(request: ServerRequest): Promise<ServerRequestAnswer> {
      if (this.#controller.signal.aborted) {
        return Promise.resolve({ error: { code: -32603, message: "The request has ended" } });
      }
      // A 2026-07-28 server's own key when it named one, so the client sees what the server asks.
      let key = request.key ?? `input-${this.#nextKey++}`;
      while (this.#outstanding.has(key)) key = `input-${this.#nextKey++}`;
      return new Promise((resolve) => {
        this.#outstanding.set(key, { request, resolve });
        this.#gather ??= setTimeout(() => {
          this.#gather = undefined;
          this.#flush();
        }, GATHER_MS);
      });
    }

    notify(notification: JsonRpcNotification): void {
      this.#sink?.push({ kind: "notification", message: notification });
    }

    finish(answer: FinalAnswer): void {
      clearTimeout(this.#gather);
      if (this.#sink !== undefined) {
        this.#deliver(answer);
        return;
      }
      // Between attempts: kept under the state the client holds, until the round expires.
      this.#ended = answer;
    }

    /** A state is good for one attempt: the next round gets a new one. */
    claim(): void {
      this.#forgetState();
    }

    /** The round ends without an answer anybody waits for: the upstream call is stopped. */
    end(): void {
      live.delete(this);
      clearTimeout(this.#gather);
      clearTimeout(this.#expiry);
      this.#forgetState();
      this.#detach?.();
      this.#detach = undefined;
      // A waiting attempt (at shutdown) still gets the call's end, which the abort brings.
      for (const entry of this.#outstanding.values()) {
        entry.resolve({ error: { code: -32603, message: "The client did not answer" } });
      }
      this.#outstanding.clear();
      this.#controller.abort();
    }

    #forgetState(): void {
      if (this.#state !== undefined && byState.get(this.#state) === this) {
        byState.delete(this.#state);
      }
      this.#state = undefined;
    }

    #deliver(answer: FinalAnswer): void {
      live.delete(this);
      // The call is over: a request of its server still open has nobody to answer it.
      for (const entry of this.#outstanding.values()) {
        entry.resolve({ error: { code: -32603, message: "The request has ended" } });
      }
      this.#outstanding.clear();
      const sink = this.#sink!;
      this.#detach?.();
      this.#detach = undefined;
      this.#sink = undefined;
      clearTimeout(this.#expiry);
      this.#forgetState();
      sink.push({ kind: "final", answer });
      sink.close();
    }

    /** Answers the waiting attempt with what the server asks; the round waits for the next. */
    #flush(): void {
      if (this.#sink === undefined || this.#outstanding.size === 0) return;
      const inputRequests: Record<string, unknown> = {};
      for (const [key, entry] of this.#outstanding) {
        inputRequests[key] = {
          method: entry.request.method,
          ...(entry.request.params === undefined ? {} : { params: entry.request.params }),
        };
      }
      this.#forgetState();
      this.#state = randomBytes(24).toString("base64url");
      byState.set(this.#state, this);
      const sink = this.#sink;
      this.#detach?.();
      this.#detach = undefined;
      this.#sink = undefined;
      this.#expiry = setTimeout(() => this.end(), this.#ttlMs);
      this.#expiry.unref?.();
      sink.push({
        kind: "final",
        answer: {
          kind: "result",
          result: { inputRequests, requestState: this.#state },
          resultType: "input_required",
        },
      });
      sink.close();
    }
  }

  return {
    start(owner, sink, clientSignal, ttlMs) {
      if (live.size >= maxRounds) return undefined;
      const round = new Round(owner, ttlMs);
      live.add(round);
      round.attach(sink, clientSignal);
      return round;
    },
    resume(requestState, owner, inputResponses, sink, clientSignal) {
      const round = byState.get(requestState);
      if (round === undefined || !sameOwner(round.owner, owner)) {
        return {
          ok: false,
          detail:
            "requestState is not valid here (altered, expired, or issued by another gateway replica); call again without it",
        };
      }
      if (inputResponses !== undefined && !isRecord(inputResponses)) {
        return { ok: false, detail: "params.inputResponses must be an object" };
      }
      round.claim();
      round.answer(inputResponses ?? {});
      round.attach(sink, clientSignal);
      return { ok: true };
    },
    holds: (requestState) => byState.has(requestState),
    size: () => live.size,
    closeAll() {
      for (const round of [...live]) round.end();
    },
  };
}
