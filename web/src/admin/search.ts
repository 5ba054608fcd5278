// One search box for members, merchants and cards: a member number, a card number, a merchant
// code, or part of a name or phone number.

import type { Api } from "../lib/api";
import { fieldValue, h, replace, setBusy } from "../lib/dom";
import type { AdminCard, Member, Merchant, Page } from "../lib/types";
import { badge, field, input, messageArea, section, showError, table } from "../lib/ui";
import { cardDetail } from "./card";

const LIMIT = 20;

function more(page: Page<unknown>): string | null {
  const total = page.pagination.total_count;
  const of = total === null ? "the first" : `${page.items.length} of ${total}`;
  return page.pagination.has_next ? `Showing ${total === null ? `${of} ${page.items.length}` : of}: narrow the search to see the rest.` : null;
}

/** The search view. */
export function searchView(api: Api): HTMLElement {
  const results = h("div", { id: "search-results" });
  const detail = h("div", { id: "detail" });
  const message = messageArea("search-message");
  const form = h("form", { id: "search-form", class: "row", role: "search", onsubmit: (event: SubmitEvent) => { event.preventDefault(); void run(); } },
    field("Member no., card no., merchant code, name or phone", input("q", { id: "search-q", required: true, autofocus: true })),
    h("button", { type: "submit", class: "primary" }, "Search"));

  const openCard = (id: string): void => {
    replace(detail, cardDetail(api, id));
    detail.scrollIntoView({ block: "start" });
  };

  async function run(): Promise<void> {
    const q = fieldValue(form, "q");
    setBusy(form, true);
    replace(detail);
    try {
      const query = { q, limit: LIMIT, count: "exact" };
      const [members, merchants, cards] = await Promise.all([
        api.get<Page<Member>>("/admin/members", query),
        api.get<Page<Merchant>>("/admin/merchants", query),
        api.get<Page<AdminCard>>("/admin/cards", query),
      ]);
      replace(results,
        h("h3", null, "Cards"),
        table(["Card", "Type", "Owner", "Balance", "Points", "Status", ""], cards.items.map((card) => [
          card.card_no, card.card_type, `${card.owner_name ?? ""} ${card.owner_member_no ?? ""}`.trim(),
          h("span", { class: "amount" }, card.balance), String(card.points), badge(card.status),
          h("button", { type: "button", "data-open-card": card.card_no, onclick: () => openCard(card.id) }, "Open"),
        ]), "No card matches."),
        more(cards),
        h("h3", null, "Members"),
        table(["Member", "Name", "Phone", "Email", "Status"], members.items.map((m) => [m.member_no, m.name, m.phone ?? "", m.email ?? "", badge(m.status)]), "No member matches."),
        more(members),
        h("h3", null, "Merchants"),
        table(["Code", "Name", "Contact", "Status"], merchants.items.map((m) => [m.code, m.name, m.contact ?? "", badge(m.status)]), "No merchant matches."),
        more(merchants));
    } catch (error) {
      showError(message, error);
    } finally {
      setBusy(form, false);
    }
  }

  return section("Search", { id: "search" }, form, message, results, detail);
}
