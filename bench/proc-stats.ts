import { readdir, readFile } from "node:fs/promises";

/** CPU time and resident memory of a process, read from /proc (Linux only). */

/** Kernel clock ticks per second of /proc/<pid>/stat; 100 on every mainstream Linux build. */
const CLOCK_TICKS = 100;

/** User and system CPU of the whole process (every thread), in ms. */
export async function cpuTimes(pid: number): Promise<{ user: number; system: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return {
    user: (Number(fields[11]) * 1000) / CLOCK_TICKS,
    system: (Number(fields[12]) * 1000) / CLOCK_TICKS,
  };
}

/** User plus system CPU of the whole process, in ms. */
export async function cpuMs(pid: number): Promise<number> {
  const { user, system } = await cpuTimes(pid);
  return user + system;
}

/**
 * CPU time of the whole machine (every core) since boot, from /proc/stat, in ms: `busy` is all
 * but idle and I/O wait, `total` everything (guest time is already inside user time).
 */
export async function machineCpuMs(): Promise<{ busy: number; total: number }> {
  const stat = await readFile("/proc/stat", "utf8");
  const ticks = stat.slice(0, stat.indexOf("\n")).trim().split(/\s+/).slice(1, 9).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  const idle = ticks[3]! + ticks[4]!;
  return { busy: ((total - idle) * 1000) / CLOCK_TICKS, total: (total * 1000) / CLOCK_TICKS };
}

/**
 * CPU of the whole process (every thread) in ms, to the nanosecond: the scheduler's run time from
 * /proc/<pid>/task/<tid>/schedstat, where /proc/<pid>/stat counts whole 10 ms ticks.
 */
export async function schedCpuMs(pid: number): Promise<number> {
  const tasks = await readdir(`/proc/${pid}/task`);
  const each = await Promise.all(
    tasks.map((tid) =>
      readFile(`/proc/${pid}/task/${tid}/schedstat`, "utf8").then(
        (line) => Number(line.split(" ")[0]) / 1e6,
        () => undefined,
      ),
    ),
  );
  // A kernel without scheduler statistics has no schedstat files: fall back to whole ticks.
  if (each.every((ms) => ms === undefined)) return cpuMs(pid);
  return each.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
}

/** Resident set size in MB; 0 when the process is gone. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

export async function threadCount(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/Threads:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Every process below `pid` (children, grandchildren, ...). */
export async function descendants(pid: number): Promise<number[]> {
  const children = await readFile(`/proc/${pid}/task/${pid}/children`, "utf8").catch(() => "");
  const direct = children.split(/\s+/).filter(Boolean).map(Number);
  const nested = await Promise.all(direct.map(descendants));
  return [...direct, ...nested.flat()];
}

/** CPU of each process still there, by pid. */
export async function cpuOfEach(pids: readonly number[]): Promise<Map<number, number>> {
  const each = await Promise.all(
    pids.map(async (pid) => [pid, await cpuMs(pid).catch(() => NaN)] as const),
  );
  return new Map(each.filter(([, ms]) => !Number.isNaN(ms)));
}

/**
 * CPU spent between two cpuOfEach readings: a process that appeared in between counts from 0, one
 * that is gone by the second reading no longer counts.
 */
export function cpuDeltaMs(
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
) {
  let spent = 0;
  for (const [pid, ms] of after) spent += ms - (before.get(pid) ?? 0);
  return spent;
}

/** CPU of a process and everything below it (a launcher and its service, nginx's workers). */
export async function treeCpuMs(pid: number): Promise<number> {
  const pids = [pid, ...(await descendants(pid))];
  const each = await Promise.all(pids.map((one) => cpuMs(one).catch(() => 0)));
  return each.reduce((sum, ms) => sum + ms, 0);
}

export async function treeRssMb(pid: number): Promise<number> {
  const pids = [pid, ...(await descendants(pid))];
  const each = await Promise.all(pids.map(rssMb));
  return each.reduce((sum, mb) => sum + mb, 0);
}

/**
 * CPU that processes spend during `work`, with what `work` returns. Descendants are read at both
 * ends, so a process tree's workers that were there throughout are counted. The second reading
 * waits `settleMs`, so requests cut off when a load run ends are finished and counted too.
 */
export async function measureCpu<T>(
  pids: Readonly<Record<string, number>>,
  work: () => Promise<T>,
  settleMs = 300,
): Promise<{ result: T; cpuMs: Record<string, number>; wallMs: number }> {
  const sample = async () =>
    Object.fromEntries(
      await Promise.all(
        Object.entries(pids).map(async ([name, pid]) => [name, await treeCpuMs(pid)] as const),
      ),
    );
  const before = await sample();
  const started = performance.now();
  const result = await work();
  const wallMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const after = await sample();
  const used: Record<string, number> = {};
  for (const name of Object.keys(pids)) used[name] = after[name]! - before[name]!;
  return { result, cpuMs: used, wallMs };
}
