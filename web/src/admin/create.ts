// Creating a member (who gets a standard card) or a merchant.

import type { Api } from "../lib/api";
import { fieldValue, h, setBusy } from "../lib/dom";
import type { Card, Member, Merchant } from "../lib/types";
import { field, input, messageArea, pairs, section, showError, showNotice } from "../lib/ui";

/** A form that posts its fields and describes the result; empty optional fields are left out. */
function creationForm(id: string, title: string, fields: HTMLElement[], send: (form: HTMLFormElement) => Promise<HTMLElement>): HTMLElement {
  const message = messageArea(`${id}-message`);
  const form: HTMLFormElement = h("form", { id, onsubmit: (event: SubmitEvent) => void submit(event) },
    h("h3", null, title), fields, h("button", { type: "submit", class: "primary" }, title), message);
  async function submit(event: SubmitEvent): Promise<void> {
    event.preventDefault();
    setBusy(form, true);
    try {
      const result = await send(form);
      form.reset();
      showNotice(message, result);
    } catch (error) {
      showError(message, error);
    } finally {
      setBusy(form, false);
    }
  }
  return h("div", { class: "subpanel" }, form);
}

function optional(form: HTMLFormElement, name: string): string | undefined {
  return fieldValue(form, name) || undefined;
}

/** The creation view. */
export function createView(api: Api): HTMLElement {
  const member = creationForm("new-member", "Create member", [
    field("Name", input("name", { required: true, maxlength: "100" })),
    field("Phone", input("phone", { inputmode: "tel", autocomplete: "off" })),
    field("Email", input("email", { type: "email" })),
    field("Password", input("password", { type: "password", autocomplete: "new-password", minlength: "8" }), "At least 8 characters; without one the member cannot sign in yet."),
  ], async (form) => {
    const created = await api.post<{ member: Member; card: Card }>("/admin/members", {
      name: fieldValue(form, "name"),
      phone: optional(form, "phone"),
      email: optional(form, "email"),
      password: (form.elements.namedItem("password") as HTMLInputElement).value || undefined,
    });
    return pairs([["Member", created.member.member_no], ["Name", created.member.name], ["Card", created.card.card_no]], { id: "created-member" });
  });
  const merchant = creationForm("new-merchant", "Create merchant", [
    field("Code", input("code", { required: true, pattern: "[A-Za-z0-9]{3,20}", maxlength: "20" }), "3–20 letters and digits; cashiers sign in with it."),
    field("Name", input("name", { required: true, maxlength: "100" })),
    field("Contact", input("contact")),
    field("Password", input("password", { type: "password", required: true, autocomplete: "new-password", minlength: "8" })),
  ], async (form) => {
    const created = await api.post<Merchant>("/admin/merchants", {
      code: fieldValue(form, "code"),
      name: fieldValue(form, "name"),
      contact: optional(form, "contact"),
      password: (form.elements.namedItem("password") as HTMLInputElement).value,
    });
    return pairs([["Merchant", created.code], ["Name", created.name], ["Status", created.status]], { id: "created-merchant" });
  });
  return section("New member or merchant", { id: "create" }, h("div", { class: "columns" }, member, merchant));
}
