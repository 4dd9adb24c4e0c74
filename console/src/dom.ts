/**
 * Building the page from data without markup strings: every text goes in as a text node, every
 * attribute through setAttribute. Nothing here parses HTML, so a subject, tool name or reason
 * from the audit log is always shown as text, never run (and the CSP forbids inline script and
 * style besides).
 */

export type Child = Node | string | number | null | undefined | false | readonly Child[];

type Handlers = { [K in keyof HTMLElementEventMap]?: (event: HTMLElementEventMap[K]) => void };

export type Attrs = {
  class?: string | undefined;
  on?: Handlers;
  /** Form controls. */
  value?: string;
  checked?: boolean;
  [attribute: string]: unknown;
};

function append(parent: Node, child: Child): void {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const item of child as readonly Child[]) append(parent, item);
  } else if (typeof child === "string" || typeof child === "number") {
    parent.appendChild(document.createTextNode(String(child)));
  } else if (child instanceof Node) {
    parent.appendChild(child);
  }
}

/** An attribute's text: strings, numbers and booleans only; anything else is a mistake. */
function attributeText(name: string, value: unknown): string {
  if (value === true) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  throw new Error(`attribute ${name} needs a string or a number`);
}

function setAttributes(element: Element, attrs: Attrs | null | undefined): void {
  if (attrs === null || attrs === undefined) return;
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value as Handlers)) {
        element.addEventListener(event, handler as EventListener);
      }
      continue;
    }
    if (name === "value" && "value" in element) {
      (element as HTMLInputElement).value = attributeText(name, value);
      continue;
    }
    if (name === "checked" && element instanceof HTMLInputElement) {
      element.checked = value === true;
      continue;
    }
    // Inline styles and handlers are what the CSP forbids; never set them as attributes.
    if (name === "style" || name.toLowerCase().startsWith("on")) {
      throw new Error(`attribute ${name} is not allowed`);
    }
    element.setAttribute(name, attributeText(name, value));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  setAttributes(element, attrs);
  append(element, children);
  return element;
}

/** Replaces everything inside `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function badge(text: string, kind: string, title?: string): HTMLSpanElement {
  return h("span", { class: `badge badge-${kind}`, title }, text);
}

/** A notice above a page's content: error, warning or information. */
export function notice(kind: "error" | "warning" | "info" | "success", ...children: Child[]) {
  return h(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
    ...children,
  );
}

export function table(headers: readonly Child[], rows: readonly Child[], attrs: Attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          headers.map((header) => h("th", { scope: "col" }, header)),
        ),
      ),
      h("tbody", null, rows),
    ),
  );
}
