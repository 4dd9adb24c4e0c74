import { h, type Child } from "./dom.ts";

/** Modal dialogs on the native <dialog> element (focus trap, Escape to close, backdrop). */

function open(dialog: HTMLDialogElement): void {
  document.body.appendChild(dialog);
  dialog.addEventListener("close", () => dialog.remove(), { once: true });
  dialog.showModal();
}

/** Asks before an action; resolves true when the operator confirms. */
export function confirmAction(options: {
  title: string;
  body: Child;
  confirm: string;
  danger?: boolean;
}): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "dialog", "aria-label": options.title },
      h(
        "form",
        { method: "dialog" },
        h("h2", null, options.title),
        h("div", { class: "dialog-body" }, options.body),
        h(
          "div",
          { class: "dialog-actions" },
          h("button", { type: "submit", value: "cancel", class: "button" }, "Cancel"),
          h(
            "button",
            {
              type: "submit",
              value: "confirm",
              class: options.danger === true ? "button button-danger" : "button button-primary",
            },
            options.confirm,
          ),
        ),
      ),
    );
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), {
      once: true,
    });
    open(dialog);
  });
}

/** Shows content (an audit event) until closed. */
export function showDetails(title: string, body: Child): void {
  const dialog = h(
    "dialog",
    { class: "dialog dialog-wide", "aria-label": title },
    h(
      "form",
      { method: "dialog" },
      h("h2", null, title),
      h("div", { class: "dialog-body" }, body),
      h(
        "div",
        { class: "dialog-actions" },
        h("button", { type: "submit", value: "close", class: "button", autofocus: true }, "Close"),
      ),
    ),
  );
  open(dialog);
}
