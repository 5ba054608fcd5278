// The till (POS page): a merchant or its cashier signs in, charges members' codes, refunds, and
// follows the day's sales.

import { h } from "../lib/dom";
import { startConsole } from "../lib/shell";
import { recentPanel } from "./recent";
import { salePanel } from "./sale";
import { todayPanel } from "./today";

startConsole({
  role: "merchant",
  heading: "Till sign-in",
  identifierLabel: "Merchant code",
  askOperator: true,
  render: ({ api, root, onEnd }) => {
    const today = todayPanel(api);
    const recent = recentPanel(api, () => today.refresh());
    const sale = salePanel(api, () => {
      recent.refresh();
      today.refresh();
    }, onEnd);
    root.append(h("div", { class: "columns" }, h("div", null, sale), h("div", null, recent.element, today.element)));
    sale.querySelector<HTMLInputElement>("#qr-input")?.focus();
  },
});
