/** What the shell (main.ts) gives each page. */
export type PageContext = {
  /** The route's query: `#/audit?user=alice` → `user=alice`. */
  query: URLSearchParams;
  /** Shows the same page with another query (a new history entry). */
  navigate(query: URLSearchParams): void;
  /** Aborted when the operator leaves the page: stop timers, drop late answers. */
  signal: AbortSignal;
};

export type Page = {
  title: string;
  render(root: HTMLElement, context: PageContext): void;
};

/**
 * Runs `task` every `ms` while the page is shown and the tab visible (a hidden tab does not
 * poll: every /admin request is audited, and nobody is looking).
 */
export function every(ms: number, task: () => void, signal: AbortSignal): void {
  const timer = setInterval(() => {
    if (document.visibilityState === "visible") task();
  }, ms);
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
}
