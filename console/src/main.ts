import "./console.css";
import { forgetToken, onUnauthorized, storedToken, storeToken } from "./api.ts";
import { h, replace } from "./dom.ts";
import { accessPage } from "./pages/access.ts";
import { auditPage } from "./pages/audit.ts";
import { limitsPage } from "./pages/limits.ts";
import { overviewPage } from "./pages/overview.ts";
import type { Page } from "./pages/page.ts";
import { toolsPage } from "./pages/tools.ts";
import { renderSignIn } from "./sign-in.ts";

/** The shell: navigation, hash routes (`#/tools?q=git`), sign-in on 401. */

const PAGES: readonly [string, Page][] = [
  ["overview", overviewPage],
  ["tools", toolsPage],
  ["access", accessPage],
  ["audit", auditPage],
  ["limits", limitsPage],
];

function route(): { name: string; page: Page; query: URLSearchParams } {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name = "", search = ""] = hash.split("?", 2);
  const found = PAGES.find(([key]) => key === name) ?? PAGES[0]!;
  return { name: found[0], page: found[1], query: new URLSearchParams(search) };
}

const main = h("main", { id: "main", tabindex: -1 });
const signOut = h("button", { type: "button", class: "button button-quiet" }, "Sign out");
const links = PAGES.map(([name, page]) =>
  h("a", { href: `#/${name}`, "data-page": name }, page.title),
);
let current: AbortController | undefined;
let signingIn = false;

function show(): void {
  current?.abort();
  current = new AbortController();
  signingIn = false;
  const { name, page, query } = route();
  for (const link of links) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  signOut.hidden = storedToken() === null;
  document.title = `${page.title} · MCP Gateway console`;
  page.render(main, {
    query,
    signal: current.signal,
    navigate(next) {
      const search = next.toString();
      const hash = `#/${name}${search === "" ? "" : `?${search}`}`;
      // The same hash fires no hashchange: show the page again (a fresh read) by hand.
      if (location.hash === hash) show();
      else location.hash = hash;
    },
  });
}

function signIn(refused: boolean): void {
  if (signingIn) return;
  signingIn = true;
  current?.abort();
  signOut.hidden = true;
  for (const link of links) link.removeAttribute("aria-current");
  document.title = "Sign in · MCP Gateway console";
  renderSignIn(main, {
    refused,
    onToken(token) {
      storeToken(token);
      show();
    },
  });
}

onUnauthorized(() => {
  // A token the gateway refuses is of no further use; ask for another.
  const hadToken = storedToken() !== null;
  if (hadToken) forgetToken();
  signIn(hadToken);
});
signOut.addEventListener("click", () => {
  forgetToken();
  signIn(false);
});
window.addEventListener("hashchange", show);

replace(
  document.body,
  h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/overview" }, "MCP Gateway", h("span", null, " console")),
    h("nav", { "aria-label": "Pages" }, links),
    signOut,
  ),
  main,
);
show();
