import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

const BRIDGE = new URL("../mcp_http_bridge.js", import.meta.url).pathname;
export const BRIDGE_TOKEN = "bridge-test-fixed-token";

type Message = Record<string, unknown>;

/** scripts/mcp_http_bridge.js as a child process, driven with raw JSON-RPC lines on stdio. */
export type BridgeProcess = {
  send: (message: Message) => void;
  /** Every message the bridge wrote to stdout, in order. */
  received: Message[];
  /** Resolves with the first message (past or future) the predicate accepts. */
  next: (predicate: (message: Message) => boolean) => Promise<Message>;
  /** The response (result or error) for a request id. */
  response: (id: unknown) => Promise<Message>;
  stderr: () => string;
  /** Closes stdin (the client went away) and waits for the bridge to exit. */
  end: () => Promise<number | null>;
  kill: () => void;
};

export function isResponseTo(id: unknown): (message: Message) => boolean {
  return (message) => message.id === id && !("method" in message);
}

/** The bridge with `args`; by default against `endpoint` with a fixed token. */
export function startBridge(
  endpointOrArgs: string | string[],
  env: Record<string, string> = {},
): BridgeProcess {
  const args = Array.isArray(endpointOrArgs)
    ? endpointOrArgs
    : ["--endpoint", endpointOrArgs, "--token-env", "BRIDGE_TEST_TOKEN"];
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [BRIDGE, ...args], {
    env: { PATH: process.env.PATH ?? "", BRIDGE_TEST_TOKEN: BRIDGE_TOKEN, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = once(child, "exit") as Promise<[number | null]>;
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const received: Message[] = [];
  const waiters: { predicate: (message: Message) => boolean; resolve: (m: Message) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    const message = JSON.parse(line) as Message;
    received.push(message);
    for (const waiter of waiters.splice(0)) {
      if (waiter.predicate(message)) waiter.resolve(message);
      else waiters.push(waiter);
    }
  });
  const next = (predicate: (message: Message) => boolean): Promise<Message> => {
    const found = received.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => waiters.push({ predicate, resolve }));
  };
  return {
    send: (message) => void child.stdin.write(`${JSON.stringify(message)}\n`),
    received,
    next,
    response: (id) => next(isResponseTo(id)),
    stderr: () => stderr,
    end: async () => {
      child.stdin.end();
      const [code] = await exited;
      return code;
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
    },
  };
}
