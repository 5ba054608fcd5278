// Settlements of every merchant, filtered, with their status moved along the state machine.

import type { Api } from "../lib/api";
import { fieldValue, h, replace, when } from "../lib/dom";
import type { Merchant, Page, Settlement } from "../lib/types";
import { CursorTrail, badge, field, guarded, input, messageArea, pager, section, select, showNotice, table } from "../lib/ui";

/** The moves the API allows from each status (SPEC: pending → settled → paid, pending ⇄ failed). */
const NEXT: Record<Settlement["status"], Settlement["status"][]> = {
  pending: ["settled", "failed"],
  settled: ["paid"],
  paid: [],
  failed: ["pending"],
};

const PAGE_SIZE = 20;

/** The settlements view. */
export function settlementsView(api: Api): HTMLElement {
  const list = h("div", { id: "settlements-list" });
  const message = messageArea("settlements-message");
  const trail = new CursorTrail();
  const filters = h("form", { class: "filters", id: "settlement-filters", onsubmit: (event: SubmitEvent) => { event.preventDefault(); trail.reset(); void load(); } },
    field("Merchant code", input("merchant")),
    field("Status", select("status", [["", "Any"], ["pending", "Pending"], ["settled", "Settled"], ["paid", "Paid"], ["failed", "Failed"]])),
    h("button", { type: "submit" }, "Filter"));

  function move(settlement: Settlement): HTMLElement | string {
    const next = NEXT[settlement.status];
    if (next.length === 0) return "";
    const choice = select("next", next.map((s) => [s, `Mark ${s}`]));
    const button = h("button", { type: "button" }, "Apply");
    button.addEventListener("click", () => void guarded(message, async () => {
      const moved = await api.patch<Settlement>(`/admin/settlements/${settlement.id}`, { status: choice.value });
      await load();
      showNotice(message, `${moved.settlement_no} is now ${moved.status}.`);
    }, button));
    return h("span", { class: "row" }, choice, button);
  }

  async function load(): Promise<void> {
    await guarded(message, async () => {
      const code = fieldValue(filters, "merchant");
      const merchant = code ? await api.get<Merchant>(`/admin/merchants/${encodeURIComponent(code)}`) : null;
      const page = await api.get<Page<Settlement>>("/admin/settlements", {
        merchant_id: merchant?.id, status: fieldValue(filters, "status"), limit: PAGE_SIZE, ...trail.query(),
      });
      replace(list,
        table(["Settlement", "Merchant", "Period", "Payments", "Refunds", "Top-ups", "Net", "Status", ""], page.items.map((s) => [
          s.settlement_no, s.merchant_code, [s.mode, " ", when(s.period_start), " – ", when(s.period_end)],
          `${s.payment_count} · ${s.payment_amount}`, `${s.refund_count} · ${s.refund_amount}`, `${s.topup_count} · ${s.topup_amount}`,
          h("strong", { class: "amount" }, s.net_amount), badge(s.status), move(s),
        ]), "No settlements."),
        pager(page, trail, () => void load()));
    });
  }

  void load();
  return section("Settlements", { id: "settlements" }, filters, message, list);
}
