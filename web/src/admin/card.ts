// One card in the back office: its figures, freeze/unfreeze, a credit, a points adjustment.

import { type Api, OnceOnly } from "../lib/api";
import { fieldValue, h, replace, setBusy, when } from "../lib/dom";
import { readAmount } from "../lib/money";
import type { AdminCard, Transaction } from "../lib/types";
import { badge, field, input, messageArea, pairs, retryBox, showError, showNotice } from "../lib/ui";

const POINTS = /^[+-]?\d{1,9}$/;

/** The card's panel, loaded from `GET /admin/cards/{id}`. */
export function cardDetail(api: Api, id: string): HTMLElement {
  const panel = h("div", { class: "subpanel", id: "card-detail" });
  const message = messageArea("card-message");
  const credit = new OnceOnly<{ transaction: Transaction }>(api, `/admin/cards/${id}/recharge`);

  async function load(): Promise<void> {
    try {
      render(await api.get<AdminCard>(`/admin/cards/${id}`));
    } catch (error) {
      replace(panel, message);
      showError(message, error);
    }
  }

  /** Runs one action from a form, then reloads the card and says what happened. */
  async function act(form: HTMLFormElement, work: () => Promise<string>): Promise<void> {
    setBusy(form, true);
    try {
      const done = await work();
      await load();
      showNotice(message, done);
    } catch (error) {
      setBusy(form, false);
      showError(message, error);
    }
  }

  function render(card: AdminCard): void {
    const frozen = card.stored_status === "inactive";
    const canMove = card.stored_status === "active" || frozen;
    const statusForm = h("form", { class: "row", id: "status-form", onsubmit: (event: SubmitEvent) => {
      event.preventDefault();
      void act(statusForm, async () => {
        await api.post(`/admin/cards/${id}/${frozen ? "unfreeze" : "freeze"}`, { reason: fieldValue(statusForm, "reason") || undefined });
        return frozen ? `${card.card_no} is active again.` : `${card.card_no} is frozen: it cannot pay, and its live code was revoked.`;
      });
    } },
    field("Reason (optional)", input("reason", { maxlength: "500" })),
    h("button", { type: "submit", id: frozen ? "unfreeze-card" : "freeze-card" }, frozen ? "Unfreeze card" : "Freeze card"));

    const unknown = retryBox("credit-unknown", "credit", () => void submitCredit(), () => { credit.abandon(); unknown.hidden = true; setBusy(creditForm, false); });
    const creditForm = h("form", { class: "row", id: "credit-form", onsubmit: (event: SubmitEvent) => { event.preventDefault(); void submitCredit(); } },
      field("Credit amount", input("amount", { inputmode: "decimal", required: true, placeholder: "0.00" })),
      field("Reason", input("reason", { maxlength: "500" })),
      h("button", { type: "submit" }, "Credit card"));
    async function submitCredit(): Promise<void> {
      const amount = readAmount(fieldValue(creditForm, "amount"));
      if (!credit.unresolved && !amount.ok) return showError(message, new Error(amount.problem));
      unknown.hidden = true;
      setBusy(creditForm, true);
      try {
        const reply = await credit.send(() => ({ amount: amount.ok ? amount.amount : "", reason: fieldValue(creditForm, "reason") || undefined }));
        await load();
        showNotice(message, `${reply.replayed ? "Already credited" : "Credited"} ${reply.data.transaction.final_amount} (${reply.data.transaction.tx_no}).`);
      } catch (error) {
        showError(message, error);
        if (credit.unresolved) unknown.hidden = false;
        else setBusy(creditForm, false);
      }
    }

    const pointsForm = h("form", { class: "row", id: "points-form", onsubmit: (event: SubmitEvent) => {
      event.preventDefault();
      const delta = fieldValue(pointsForm, "delta");
      if (!POINTS.test(delta)) return showError(message, new Error("Points: a whole number such as 50 or -20."));
      void act(pointsForm, async () => {
        const result = await api.post<{ points_before: number; points_after: number; level_after: number }>("/admin/points/adjust",
          { card_id: id, delta_points: Number(delta), reason: fieldValue(pointsForm, "reason") });
        return `Points ${result.points_before} → ${result.points_after} (level ${result.level_after}).`;
      });
    } },
    field("Points (+ or −)", input("delta", { inputmode: "numeric", required: true })),
    field("Reason", input("reason", { required: true, maxlength: "500" })),
    h("button", { type: "submit" }, "Adjust points"));

    replace(panel,
      h("h3", null, `Card ${card.card_no}`),
      pairs([
        ["Status", [badge(card.status), card.stored_status !== card.status ? ` (stored ${card.stored_status})` : ""]],
        ["Type", card.card_type],
        ["Name", card.name],
        ["Owner", card.owner_name ? `${card.owner_name} · ${card.owner_member_no ?? ""} · ${card.owner_phone ?? ""}` : null],
        ["Balance", h("strong", { class: "amount", id: "card-balance" }, card.balance)],
        ["Points", card.card_type === "standard" ? String(card.points) : null],
        ["Level", card.card_type === "standard" ? `${card.level} (×${card.discount})` : null],
        ["Expires", card.expires_at ? when(card.expires_at) : null],
        ["Members bound", String(card.binding_count)],
      ], { id: "card-figures" }),
      message,
      canMove ? statusForm : h("p", null, `A ${card.stored_status} card is moved with the status endpoint, not from here.`),
      card.card_type === "standard" && card.stored_status !== "closed" ? [creditForm, unknown] : null,
      card.card_type === "standard" ? pointsForm : null);
  }

  void load();
  return panel;
}
