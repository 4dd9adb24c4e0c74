import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The processes a benchmark starts, stopped together whatever ends the run: its normal end, an
 * error, Ctrl-C, SIGTERM or the run's time bound. Their stdout (the services' log lines) is
 * discarded as a log shipper would consume it; the end of stderr is kept to explain an early exit.
 */

export type Child = {
  name: string;
  pid: number;
  /** Whether it exited before stopAll() was called. */
  exitedEarly(): boolean;
  /** The last few KB it wrote to stderr. */
  stderrTail(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
};

const STDERR_TAIL_BYTES = 4096;
const running = new Set<ChildProcess>();
let stopping = false;

export function startChild(
  name: string,
  command: string,
  args: readonly string[],
  options: { env: Record<string, string>; cwd?: string },
): Child {
  const child = spawn(command, args, {
    env: { PATH: process.env.PATH ?? "", ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: ["ignore", "ignore", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  running.add(child);
  let tail = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-STDERR_TAIL_BYTES);
  });
  let early = false;
  const exited = once(child, "exit").then(() => running.delete(child));
  child.on("exit", (code, signal) => {
    if (stopping || !running.has(child)) return;
    early = true;
    process.stderr.write(`${name} exited early (${code ?? signal}):\n${tail}\n`);
  });
  return {
    name,
    pid: child.pid,
    exitedEarly: () => early,
    stderrTail: () => tail,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      running.delete(child);
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await once(child, "exit").catch(() => undefined);
      clearTimeout(timer);
      await exited;
    },
  };
}

/**
 * One of the bench's own TypeScript servers (a file next to this one, e.g. "grpc-echo-server.ts")
 * in a process of its own, run through tsx with `args`.
 */
export function startBenchScript(name: string, file: string, args: readonly string[]): Child {
  const script = fileURLToPath(new URL(file, import.meta.url));
  return startChild(
    name,
    process.execPath,
    ["--import", import.meta.resolve("tsx"), script, ...args],
    {
      env: {},
      cwd: path.dirname(script),
    },
  );
}

/** Stops every child still running (SIGTERM, SIGKILL after the grace period). */
export async function stopAll(graceMs = 5_000): Promise<void> {
  stopping = true;
  const children = [...running];
  running.clear();
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await once(child, "exit").catch(() => undefined);
      clearTimeout(timer);
    }),
  );
}

/**
 * Runs `main` with every child stopped at its end; Ctrl-C, SIGTERM and `boundMs` stop them too
 * and end the process. An error is printed and sets exit code 1.
 */
export async function runBounded(boundMs: number, main: () => Promise<void>): Promise<void> {
  const abort = (why: string, code: number) => {
    process.stderr.write(`\n${why}: stopping child processes\n`);
    void stopAll(2_000).finally(() => process.exit(code));
  };
  const onSigint = () => abort("interrupted", 130);
  const onSigterm = () => abort("terminated", 143);
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigterm);
  // Last resort for an exit that skips the cleanup below (process.exit from elsewhere).
  const onExit = () => {
    for (const child of running) child.kill("SIGKILL");
  };
  process.once("exit", onExit);
  const bound = setTimeout(
    () => abort(`run exceeded its bound of ${Math.round(boundMs / 1000)} s`, 1),
    boundMs,
  );
  bound.unref();
  try {
    await main();
  } catch (error) {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  } finally {
    clearTimeout(bound);
    await stopAll();
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigterm);
    process.off("exit", onExit);
  }
}
