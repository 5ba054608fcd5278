// The membership level table: read, edit, replace (PUT /admin/levels). The server checks the
// table's rules (no gaps, no overlaps); its answer is shown as it comes.

import type { Api } from "../lib/api";
import { h, replace } from "../lib/dom";
import type { Level, Page } from "../lib/types";
import { guarded, messageArea, section, showNotice } from "../lib/ui";

const WHOLE = /^\d{1,12}$/;

function cellInput(name: string, value: string, label: string, attrs: Record<string, string> = {}): HTMLInputElement {
  return h("input", { name, value, "aria-label": label, autocomplete: "off", ...attrs });
}

function levelRow(level: Partial<Level>, remove: (row: HTMLTableRowElement) => void): HTMLTableRowElement {
  const n = String(level.level ?? "");
  const row: HTMLTableRowElement = h("tr", null,
    h("td", null, cellInput("level", n, "Level number", { inputmode: "numeric", size: "3" })),
    h("td", null, cellInput("name", level.name ?? "", `Name of level ${n}`)),
    h("td", null, cellInput("min_points", String(level.min_points ?? ""), `Lowest points of level ${n}`, { inputmode: "numeric", size: "7" })),
    h("td", null, cellInput("max_points", level.max_points === null || level.max_points === undefined ? "" : String(level.max_points), `Highest points of level ${n} (empty: no limit)`, { inputmode: "numeric", size: "7" })),
    h("td", null, cellInput("discount", level.discount ?? "1.000", `Price multiplier of level ${n}`, { inputmode: "decimal", size: "6" })),
    h("td", null, h("button", { type: "button", onclick: () => remove(row) }, "Remove")));
  return row;
}

function wholeNumber(text: string, what: string): number {
  if (!WHOLE.test(text)) throw new Error(`${what}: a whole number, 0 or more.`);
  return Number(text);
}

function readRow(row: HTMLTableRowElement): object {
  const value = (name: string): string => (row.querySelector<HTMLInputElement>(`input[name="${name}"]`)?.value ?? "").trim();
  const max = value("max_points");
  return {
    level: wholeNumber(value("level"), "Level"),
    name: value("name"),
    min_points: wholeNumber(value("min_points"), "Lowest points"),
    max_points: max === "" ? null : wholeNumber(max, "Highest points"),
    discount: value("discount"),
  };
}

/** The levels view. */
export function levelsView(api: Api): HTMLElement {
  const body = h("tbody", { id: "levels-body" });
  const message = messageArea("levels-message");
  const remove = (row: HTMLTableRowElement): void => row.remove();
  const fill = (levels: Level[]): void => replace(body, levels.map((level) => levelRow(level, remove)));
  const save = h("button", { type: "button", class: "primary", id: "save-levels" }, "Save level table");
  save.addEventListener("click", () => void guarded(message, async () => {
    const levels = Array.from(body.rows).map(readRow);
    const saved = await api.put<{ levels: Level[] }>("/admin/levels", { levels });
    fill(saved.levels);
    showNotice(message, `Saved ${saved.levels.length} levels. Cards move to their new level when their points next change.`);
  }, save));

  void guarded(message, async () => fill((await api.get<Page<Level>>("/levels", { limit: 100 })).items));
  return section("Levels", { id: "levels" },
    h("p", { class: "hint" }, "A point total maps to the level whose range holds it; the ranges must cover 0 upwards without gaps or overlaps."),
    h("div", { class: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, ["Level", "Name", "From points", "To points", "Multiplier", ""].map((t) => h("th", { scope: "col" }, t)))),
      body)),
    h("div", { class: "actions" },
      h("button", { type: "button", onclick: () => body.append(levelRow({}, remove)) }, "Add level"),
      save),
    message);
}
