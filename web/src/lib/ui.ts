// Pieces every page shares: messages, fields, tables, paging.

import { ApiError } from "./api";
import { type Child, h, replace } from "./dom";
import type { Page } from "./types";

/** Shows an error with the API's message, code and request id (what support asks for). */
export function showError(target: Element, error: unknown): void {
  target.setAttribute("role", "alert");
  target.className = "message error";
  if (error instanceof ApiError) {
    const meta = [error.code, error.requestId ? `request id ${error.requestId}` : null].filter(Boolean).join(" · ");
    replace(target, h("strong", null, error.message || "The request failed."), h("span", { class: "meta" }, meta));
    target.setAttribute("data-code", error.code);
  } else {
    replace(target, h("strong", null, error instanceof Error ? error.message : String(error)));
    target.removeAttribute("data-code");
  }
}

/** Shows a confirmation. */
export function showNotice(target: Element, ...text: Child[]): void {
  target.setAttribute("role", "status");
  target.removeAttribute("data-code");
  target.className = "message notice";
  replace(target, ...text);
}

/** Empties a message area. */
export function clearMessage(target: Element): void {
  target.className = "message";
  target.removeAttribute("data-code");
  replace(target);
}

/** A message area, empty until something is shown in it. */
export function messageArea(id?: string): HTMLDivElement {
  return h("div", { class: "message", id, "aria-live": "polite" });
}

/** A labelled form control. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLLabelElement {
  return h("label", { class: "field" }, h("span", null, label), control, hint ? h("small", null, hint) : null);
}

/** A text input; `attrs` adds or overrides attributes. */
export function input(name: string, attrs: Record<string, string | boolean> = {}): HTMLInputElement {
  return h("input", { name, type: "text", autocomplete: "off", ...attrs });
}

/** A select of `[value, label]` options. */
export function select(name: string, options: [string, string][], selected = ""): HTMLSelectElement {
  return h("select", { name }, options.map(([value, label]) => h("option", { value, selected: value === selected }, label)));
}

/** A section of a page with a heading. */
export function section(title: string, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElement {
  return h("section", { class: "panel", ...attrs }, h("h2", null, title), ...children);
}

/** Label/value pairs, e.g. a receipt; values that are null are left out. */
export function pairs(rows: [string, Child][], attrs: Record<string, string> = {}): HTMLDListElement {
  return h("dl", { class: "pairs", ...attrs }, rows.filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}

/** A table that scrolls sideways on narrow screens rather than squeezing. */
export function table(headers: string[], rows: Child[][], empty = "Nothing to show."): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap", tabindex: "0" },
    h("table", null,
      h("thead", null, h("tr", null, headers.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", null, rows.map((cells) => h("tr", null, cells.map((cell) => h("td", null, cell)))))),
  );
}

/**
 * Where a list is, paged by cursor: the cursor of the page shown and of each page before it
 * (lists are paged by `cursor`, not `offset`, so they stay fast however long they grow).
 */
export class CursorTrail {
  private before: (string | undefined)[] = [];
  private current: string | undefined = undefined;

  /** Back to the first page. */
  reset(): void {
    this.before = [];
    this.current = undefined;
  }

  /** The query of the page shown: its cursor, and a count of the whole list. */
  query(): { cursor?: string; count: string } {
    return this.current === undefined ? { count: "exact" } : { cursor: this.current, count: "exact" };
  }

  /** Pages shown before this one. */
  get depth(): number {
    return this.before.length;
  }

  forward(cursor: string): void {
    this.before.push(this.current);
    this.current = cursor;
  }

  back(): void {
    this.current = this.before.pop();
  }
}

/** "Previous / 1–10 of 42 / Next" for a list paged by cursor; `reload` shows the trail's page. */
export function pager(page: Page<unknown>, trail: CursorTrail, reload: () => void): HTMLElement {
  const { limit, total_count: total, has_next: hasNext, next_cursor: next } = page.pagination;
  const start = trail.depth * limit;
  const first = page.items.length === 0 ? 0 : start + 1;
  const last = start + page.items.length;
  return h(
    "nav",
    { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: trail.depth === 0, onclick: () => { trail.back(); reload(); } }, "Previous"),
    h("span", null, total === null ? `${first}–${last}` : `${first}–${last} of ${total}`),
    h("button", { type: "button", disabled: !hasNext || !next, onclick: () => { if (next) { trail.forward(next); reload(); } } }, "Next"),
  );
}

/** A status as a badge, e.g. `active`. */
export function badge(status: string): HTMLElement {
  return h("span", { class: `badge badge-${status}` }, status);
}

/** Runs `work` with a button disabled, showing any error in `message`. */
export async function guarded(message: Element, work: () => Promise<void>, button?: HTMLButtonElement): Promise<void> {
  if (button) button.disabled = true;
  clearMessage(message);
  try {
    await work();
  } catch (error) {
    showError(message, error);
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * What a money-moving form shows when its outcome is unknown: a retry that repeats the same
 * request under the same key (so it cannot act twice), and a way to give up.
 */
export function retryBox(id: string, what: string, retry: () => void, abandon: () => void): HTMLDivElement {
  return h("div", { class: "unknown", id, hidden: true },
    h("p", null, `The ${what} may or may not have gone through. Retrying sends the same request with the same key: it can never happen twice.`),
    h("button", { type: "button", class: "primary", onclick: () => retry() }, `Retry ${what}`),
    h("button", { type: "button", onclick: () => abandon() }, "Abandon (check recent payments first)"));
}
