// The member's transactions, filtered by card and type, a page at a time.

import type { Api } from "../lib/api";
import { h, replace, when } from "../lib/dom";
import type { Card, Page, Transaction } from "../lib/types";
import { CursorTrail, badge, field, messageArea, pager, section, select, showError, table } from "../lib/ui";

const PAGE_SIZE = 10;

function signedAmount(tx: Transaction): string {
  return tx.tx_type === "payment" ? `−${tx.final_amount}` : `+${tx.final_amount}`;
}

/** The history panel; `setCards` fills the card filter, `refresh` reloads the first page. */
export function historyPanel(api: Api): { element: HTMLElement; setCards: (cards: Card[]) => void; refresh: () => void } {
  const cardFilter = select("card_id", [["", "All cards"]]);
  const typeFilter = select("tx_type", [["", "All types"], ["payment", "Payments"], ["refund", "Refunds"], ["recharge", "Top-ups"]]);
  const list = h("div", { id: "history-list" });
  const message = messageArea("history-message");
  const trail = new CursorTrail();

  async function load(): Promise<void> {
    try {
      const page = await api.get<Page<Transaction>>("/member/transactions", {
        card_id: cardFilter.value,
        tx_type: typeFilter.value,
        limit: PAGE_SIZE,
        ...trail.query(),
      });
      replace(list,
        table(["Time", "Transaction", "Where", "Amount", "Points", "Status"], page.items.map((tx) => [
          when(tx.created_at),
          [tx.tx_no, h("small", { class: "sub" }, tx.card_no)],
          tx.merchant_code ?? tx.payment_method,
          h("span", { class: "amount" }, signedAmount(tx)),
          tx.points_earned ? String(tx.points_earned) : "",
          badge(tx.status),
        ]), "No transactions yet."),
        pager(page, trail, () => void load()));
    } catch (error) {
      showError(message, error);
    }
  }

  const reload = (): void => { trail.reset(); void load(); };
  cardFilter.addEventListener("change", reload);
  typeFilter.addEventListener("change", reload);
  const element = section("History", { id: "history" },
    h("div", { class: "filters" }, field("Card", cardFilter), field("Type", typeFilter)), message, list);
  void load();
  return {
    element,
    setCards: (cards) => {
      const chosen = cardFilter.value;
      replace(cardFilter, h("option", { value: "" }, "All cards"),
        cards.map((card) => h("option", { value: card.id, selected: card.id === chosen }, card.card_no)));
    },
    refresh: reload,
  };
}
