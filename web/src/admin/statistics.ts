// Programme statistics (GET /admin/statistics) as figures and charts.

import type { Api } from "../lib/api";
import { type Bar, barChart } from "../lib/chart";
import { h, replace, when } from "../lib/dom";
import { toCents } from "../lib/money";
import type { Statistics } from "../lib/types";
import { guarded, messageArea, pairs, section } from "../lib/ui";

function counts(entries: [string, number][]): Bar[] {
  return entries.map(([label, value]) => ({ label, value: BigInt(value), text: String(value) }));
}

/** The statistics view. */
export function statisticsView(api: Api): HTMLElement {
  const body = h("div", { id: "statistics-body" });
  const message = messageArea("statistics-message");
  const refresh = h("button", { type: "button", id: "refresh-statistics" }, "Refresh");

  async function load(): Promise<void> {
    await guarded(message, async () => {
      const s = await api.get<Statistics>("/admin/statistics");
      const { today, cards } = s;
      replace(body,
        pairs([
          ["Day", s.date],
          ["Members", `${s.members.total} (${s.members.active} active, ${s.members.suspended} suspended)`],
          ["Merchants", `${s.merchants.total} (${s.merchants.active} active, ${s.merchants.suspended} suspended)`],
          ["Cards", `${cards.total} (${cards.active} active, ${cards.inactive} frozen)`],
          ["Payments today", h("strong", { class: "amount", id: "payments-today" }, `${today.payments.count} · ${today.payments.amount}`)],
          ["Refunds today", `${today.refunds.count} · ${today.refunds.amount}`],
          ["Top-ups today", `${today.recharges.count} · ${today.recharges.amount}`],
          ["Codes shown today", String(today.qr_issued)],
          ["New members today", String(today.new_members)],
          ["As of", when(s.generated_at)],
        ], { class: "pairs figures" }),
        h("div", { class: "charts" },
          barChart("Money today", [
            { label: "Payments", value: toCents(today.payments.amount), text: today.payments.amount },
            { label: "Refunds", value: toCents(today.refunds.amount), text: today.refunds.amount },
            { label: "Top-ups", value: toCents(today.recharges.amount), text: today.recharges.amount },
          ], "Amount"),
          barChart("Cards by status", counts([["active", cards.active], ["frozen", cards.inactive], ["lost", cards.lost], ["expired", cards.expired], ["closed", cards.closed]]), "Cards"),
          barChart("Cards by type", counts([["standard", cards.by_type.standard], ["voucher", cards.by_type.voucher], ["corporate", cards.by_type.corporate]]), "Cards")));
    }, refresh);
  }

  refresh.addEventListener("click", () => void load());
  void load();
  return section("Statistics", { id: "statistics" }, h("p", { class: "hint" }, "Figures are at most 30 seconds old. ", refresh), message, body);
}
