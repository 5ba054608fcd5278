// The day's sales of this merchant (GET /merchant/daily-summary) with an hourly chart.

import type { Api } from "../lib/api";
import { barChart } from "../lib/chart";
import { h, replace } from "../lib/dom";
import { toCents } from "../lib/money";
import type { DailySummary } from "../lib/types";
import { field, messageArea, pairs, section, showError } from "../lib/ui";

/** The day's-sales panel; `refresh` reloads the chosen day. */
export function todayPanel(api: Api): { element: HTMLElement; refresh: () => void } {
  const dateInput = h("input", { type: "date", name: "date", id: "summary-date" });
  const body = h("div", { id: "summary" });
  const message = messageArea("summary-message");

  async function load(): Promise<void> {
    try {
      const day = await api.get<DailySummary>("/merchant/daily-summary", { date: dateInput.value });
      const { summary } = day;
      replace(body,
        pairs([
          ["Day", day.date],
          ["Payments", `${summary.payment_count} · ${summary.payment_amount}`],
          ["Refunds", `${summary.refund_count} · ${summary.refund_amount}`],
          ["Net sales", h("strong", { class: "amount", id: "net-sales" }, summary.net_amount)],
        ], { class: "pairs figures" }),
        barChart(
          `Payments by hour, ${day.date}`,
          day.hourly.map((bucket) => ({ label: String(bucket.hour).padStart(2, "0"), value: toCents(bucket.amount), text: `${bucket.amount} (${bucket.count})` })),
          "Amount (payments)",
        ));
    } catch (error) {
      showError(message, error);
    }
  }

  dateInput.addEventListener("change", () => void load());
  const element = section("Sales of the day", { id: "today" }, field("Day (empty: today)", dateInput), message, body);
  void load();
  return { element, refresh: () => void load() };
}
