/**
 * Cleanups that run when the current test file is done: test/setup-file.ts, which Vitest runs
 * before every file, registers the hook that runs them. A helper's own top-level afterAll would
 * not do: where files share module instances (isolate: false), a helper module is evaluated once
 * per worker, so its hook would be registered for the first file that imports it only.
 */
const cleanups: (() => Promise<void>)[] = [];

export function whenFileEnds(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** Runs the cleanups registered since the last call, the latest first. */
export async function runFileEndCleanups(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
}
