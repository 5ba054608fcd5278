// DOM building without HTML strings: every page is made of elements and text nodes, so text
// that came from the API can never become markup (and the CSP's Trusted Types rule forbids
// innerHTML outright).

/** What may be placed inside an element. */
export type Child = Node | string | number | bigint | null | undefined | false | Child[];

/** Attributes and event handlers (`onclick`, `onsubmit`, …) of an element. */
export type Attrs = Record<string, string | number | boolean | null | undefined | ((event: any) => void)>;

function apply(element: Element, attrs: Attrs | null | undefined): void {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.setAttribute("class", String(value));
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
}

function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** An HTML element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  apply(element, attrs);
  append(element, children);
  return element;
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element (charts): geometry goes in attributes, never in style. */
export function svg(tag: string, attrs?: Attrs | null, ...children: Child[]): SVGElement {
  const element = document.createElementNS(SVG_NS, tag) as SVGElement;
  apply(element, attrs);
  append(element, children);
  return element;
}

/** Replaces everything inside `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** The element with this id, which the page's HTML must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
}

/** The trimmed value of a named field of a form. */
export function fieldValue(form: HTMLFormElement, name: string): string {
  const field = form.elements.namedItem(name);
  if (field instanceof HTMLInputElement || field instanceof HTMLSelectElement || field instanceof HTMLTextAreaElement) {
    return field.value.trim();
  }
  throw new Error(`the form has no field ${name}`);
}

/** Disables (or enables) every control of a form, e.g. while its request is in flight. */
export function setBusy(form: HTMLFormElement, busy: boolean): void {
  for (const control of Array.from(form.elements)) {
    if (control instanceof HTMLButtonElement || control instanceof HTMLInputElement || control instanceof HTMLSelectElement) {
      control.disabled = busy;
    }
  }
  form.setAttribute("aria-busy", String(busy));
}

/** A local date and time for people; the API's value stays in the title for exactness. */
export function when(iso: string | null | undefined): HTMLElement | string {
  if (!iso) return "";
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
  return h("time", { datetime: iso, title: iso }, text);
}
