// The member page: cards with balance, points and level, the payment code, and the history.

import type { Api } from "../lib/api";
import { h, replace } from "../lib/dom";
import { startConsole } from "../lib/shell";
import type { Card, Level, Page } from "../lib/types";
import { badge, messageArea, pairs, section, showError } from "../lib/ui";
import { PaymentCode } from "./code";
import { historyPanel } from "./history";

interface MemberCards {
  items: Card[];
  summary: { total_cards: number; active_cards: number; total_balance: string; total_points: number };
}

function canPay(card: Card): boolean {
  return card.status === "active" && card.card_type !== "corporate";
}

function cardTile(card: Card, levels: Map<number, string>, pay: (card: Card) => void): HTMLElement {
  const level = card.card_type === "standard" ? `${levels.get(card.level) ?? "Level"} (${card.level})` : null;
  return h("article", { class: "card-tile", "data-card": card.card_no },
    h("header", null, h("h3", null, card.name), badge(card.status)),
    h("p", { class: "card-no" }, `${card.card_no} · ${card.card_type}`),
    h("p", { class: "balance" }, h("span", null, "Balance "), h("strong", { class: "amount" }, card.balance)),
    pairs([
      ["Points", card.card_type === "standard" ? String(card.points) : null],
      ["Level", level],
      ["You pay", card.effective_discount === "1.000" ? null : `×${card.effective_discount}`],
    ]),
    canPay(card) ? h("button", { type: "button", class: "primary", onclick: () => pay(card) }, "Show payment code") : null);
}

async function levelNames(api: Api): Promise<Map<number, string>> {
  const page = await api.get<Page<Level>>("/levels", { limit: 100 });
  return new Map(page.items.map((level) => [level.level, level.name]));
}

startConsole({
  role: "member",
  heading: "Member sign-in",
  identifierLabel: "Phone or member number",
  identifierHint: "For example 13800000001 or M00000001.",
  render: async ({ api, root, onEnd }) => {
    const message = messageArea("cards-message");
    const cardList = h("div", { class: "card-list", id: "cards" });
    const summary = h("div", { id: "cards-summary" });
    const history = historyPanel(api);
    const code = new PaymentCode(api, () => {
      void loadCards();
      history.refresh();
    });
    onEnd(() => code.close());
    let levels = new Map<number, string>();

    async function loadCards(): Promise<void> {
      try {
        if (levels.size === 0) levels = await levelNames(api);
        const cards = await api.get<MemberCards>("/member/cards");
        replace(summary, pairs([
          ["Total balance", h("strong", { class: "amount" }, cards.summary.total_balance)],
          ["Points", String(cards.summary.total_points)],
          ["Active cards", `${cards.summary.active_cards} of ${cards.summary.total_cards}`],
        ], { class: "pairs figures" }));
        replace(cardList, cards.items.map((card) => cardTile(card, levels, (chosen) => void code.show(chosen))));
        history.setCards(cards.items);
      } catch (error) {
        showError(message, error);
      }
    }

    root.append(h("div", { class: "columns" },
      h("div", null, section("Your cards", { id: "cards-panel" }, message, summary, cardList)),
      h("div", null, code.element, history.element)));
    await loadCards();
  },
});
