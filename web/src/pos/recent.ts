// The till's recent transactions, and refunding one of its payments.

import { type Api, OnceOnly } from "../lib/api";
import { fieldValue, h, replace, setBusy, when } from "../lib/dom";
import { isZero, readAmount, subtract } from "../lib/money";
import type { Page, RefundResponse, Transaction } from "../lib/types";
import { CursorTrail, badge, clearMessage, field, input, messageArea, pager, pairs, retryBox, section, showError, showNotice, table } from "../lib/ui";

const PAGE_SIZE = 8;

/** What is left to refund of a payment, or null when nothing is. */
function refundable(tx: Transaction): string | null {
  if (tx.tx_type !== "payment" || tx.status !== "completed") return null;
  const left = subtract(tx.final_amount, tx.refunded_total ?? "0.00");
  return isZero(left) ? null : left;
}

function signed(tx: Transaction): string {
  return tx.tx_type === "payment" ? `−${tx.final_amount}` : `+${tx.final_amount}`;
}

/** The recent-transactions panel; `refresh` reloads it, `refunded` runs after each refund. */
export function recentPanel(api: Api, refunded: () => void): { element: HTMLElement; refresh: () => void } {
  const list = h("div", { id: "recent-list" });
  const message = messageArea("recent-message");
  const refundArea = h("div", { id: "refund-area" });
  const trail = new CursorTrail();

  async function load(): Promise<void> {
    try {
      const page = await api.get<Page<Transaction>>("/merchant/transactions", { limit: PAGE_SIZE, ...trail.query() });
      replace(list,
        table(["Time", "Transaction", "Amount", "Status", ""], page.items.map((tx) => {
          const left = refundable(tx);
          return [
            when(tx.created_at),
            [tx.tx_no, h("small", { class: "sub" }, tx.card_no)],
            h("span", { class: "amount" }, signed(tx)),
            [badge(tx.status), tx.refunded_total && !isZero(tx.refunded_total) ? h("small", null, ` refunded ${tx.refunded_total}`) : null],
            left ? h("button", { type: "button", "data-refund": tx.tx_no, onclick: () => openRefund(tx, left) }, "Refund") : "",
          ];
        }), "No transactions yet."),
        pager(page, trail, () => void load()));
    } catch (error) {
      showError(message, error);
    }
  }

  function openRefund(tx: Transaction, left: string): void {
    const refund = new OnceOnly<RefundResponse>(api, "/merchant/refund");
    const amountInput = input("amount", { inputmode: "decimal", required: true, value: left, id: "refund-amount" });
    const formMessage = messageArea("refund-message");
    const close = (): void => { replace(refundArea); list.querySelector<HTMLButtonElement>(`[data-refund="${tx.tx_no}"]`)?.focus(); };
    const unknown = retryBox("refund-unknown", "refund", () => void submit(), () => { refund.abandon(); close(); });
    const form = h("form", { id: "refund-form", class: "subpanel", onsubmit: (event: SubmitEvent) => { event.preventDefault(); void submit(); } },
      h("h3", null, `Refund ${tx.tx_no}`),
      h("p", null, `Paid ${tx.final_amount} by ${tx.card_no}; ${left} can still be refunded.`),
      field("Amount to refund", amountInput),
      field("Reason (optional)", input("reason", { maxlength: "200" })),
      h("div", { class: "actions" },
        h("button", { type: "submit", class: "primary", id: "refund-button" }, "Refund"),
        h("button", { type: "button", onclick: close }, "Cancel")),
      formMessage);
    replace(refundArea, form, unknown);
    amountInput.focus();
    amountInput.select();

    async function submit(): Promise<void> {
      clearMessage(formMessage);
      const amount = readAmount(amountInput.value);
      if (!refund.unresolved && !amount.ok) return showError(formMessage, new Error(amount.problem));
      setBusy(form, true);
      unknown.hidden = true;
      try {
        const reply = await refund.send(() => ({
          original_tx_no: tx.tx_no,
          amount: amount.ok ? amount.amount : "",
          reason: fieldValue(form, "reason") || undefined,
        }));
        const { refund: done, original } = reply.data;
        replace(refundArea, h("div", { class: "receipt", id: "refund-receipt", "data-tx": done.tx_no },
          h("h3", null, reply.replayed ? "Already refunded" : "Refunded"),
          pairs([
            ["Refund", done.tx_no],
            ["Of payment", original.tx_no],
            ["Amount", h("strong", { class: "amount" }, done.final_amount)],
            ["Refunded so far", original.refunded_total],
            ["Still refundable", original.remaining_refundable],
          ])));
        showNotice(message, `Refunded ${done.final_amount} of ${original.tx_no}.`);
        trail.reset();
        void load();
        refunded();
      } catch (error) {
        showError(formMessage, error);
        if (refund.unresolved) unknown.hidden = false;
        else setBusy(form, false);
      }
    }
  }

  const element = section("Recent transactions", { id: "recent" }, message, list, refundArea);
  void load();
  return { element, refresh: () => { trail.reset(); void load(); } };
}
