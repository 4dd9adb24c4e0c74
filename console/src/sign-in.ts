import { h, notice, replace } from "./dom.ts";

/**
 * Shown when the gateway answers 401. In development the operator pastes a token (it stays in
 * this tab's sessionStorage). In production the ingress in front of the gateway normally signs
 * operators in and adds their token to every request, so this view only appears when that did
 * not happen.
 */
export function renderSignIn(
  root: HTMLElement,
  options: { refused: boolean; onToken: (token: string) => void },
): void {
  const token = h("input", {
    type: "password",
    name: "token",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-label": "Access token",
    placeholder: "eyJhbGciOi…",
  });
  const form = h(
    "form",
    { class: "sign-in" },
    h("h1", null, "Sign in"),
    options.refused
      ? notice(
          "error",
          "The gateway did not accept that token (expired, or not one of its issuer's).",
        )
      : null,
    h(
      "p",
      null,
      "The console calls the gateway's operators' API with your access token. It needs a role listed in policy.yaml's ",
      h("code", null, "operator_roles"),
      ".",
    ),
    h("label", null, "Access token", token),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", class: "button button-primary" }, "Sign in"),
    ),
    h(
      "details",
      null,
      h("summary", null, "Where do I get a token?"),
      h(
        "p",
        null,
        "Development (npm start): ",
        h("code", null, "npm run -s token -- --user you --roles operator"),
        ". The token is kept in this browser tab only (sessionStorage) and sent as a Bearer header.",
      ),
      h(
        "p",
        null,
        "Production: your ingress signs you in (single sign-on) and passes your token to the gateway; if you see this page there, it did not. Ask your platform team.",
      ),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = token.value.trim().replace(/^Bearer\s+/i, "");
    if (value !== "") options.onToken(value);
  });
  replace(root, form);
  token.focus();
}
