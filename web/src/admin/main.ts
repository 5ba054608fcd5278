// The back office: search, accounts, cards, levels, settlements, statistics and the audit log.
// Each view has its own address (#search, #statistics, …), so links and the back button work.

import type { Api } from "../lib/api";
import { h, replace } from "../lib/dom";
import { startConsole } from "../lib/shell";
import { auditView } from "./audit";
import { createView } from "./create";
import { levelsView } from "./levels";
import { searchView } from "./search";
import { settlementsView } from "./settlements";
import { statisticsView } from "./statistics";

const VIEWS: [string, string, (api: Api) => HTMLElement][] = [
  ["search", "Search", searchView],
  ["create", "New member or merchant", createView],
  ["statistics", "Statistics", statisticsView],
  ["settlements", "Settlements", settlementsView],
  ["levels", "Levels", levelsView],
  ["audit", "Audit log", auditView],
];

startConsole({
  role: "admin",
  heading: "Back office sign-in",
  identifierLabel: "Email",
  render: ({ api, root }) => {
    const view = h("div", { id: "view" });
    const links = VIEWS.map(([id, label]) => h("a", { href: `#${id}`, "data-view": id }, label));
    const show = (): void => {
      const wanted = location.hash.slice(1);
      const [id, , make] = VIEWS.find(([name]) => name === wanted) ?? VIEWS[0];
      for (const link of links) {
        if (link.dataset.view === id) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
      replace(view, make(api));
    };
    root.append(h("nav", { class: "tabs", "aria-label": "Back office" }, links), view);
    window.addEventListener("hashchange", show);
    show();
  },
});
