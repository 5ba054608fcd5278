// The audit log (GET /admin/audit), filtered by action, actor, object and time, a page at a time.

import type { Api } from "../lib/api";
import { fieldValue, h, replace, when } from "../lib/dom";
import type { AuditEvent, Page } from "../lib/types";
import { CursorTrail, field, guarded, input, messageArea, pager, section, table } from "../lib/ui";

const PAGE_SIZE = 25;

/** The audit view. */
export function auditView(api: Api): HTMLElement {
  const list = h("div", { id: "audit-list" });
  const message = messageArea("audit-message");
  const trail = new CursorTrail();
  const filters = h("form", { class: "filters", id: "audit-filters", onsubmit: (event: SubmitEvent) => { event.preventDefault(); trail.reset(); void load(); } },
    field("Action", input("action", { placeholder: "CARD_FREEZE" })),
    field("Actor id", input("actor_id", { spellcheck: "false" })),
    field("Object type", input("object_type", { placeholder: "card" })),
    field("Object id", input("object_id", { spellcheck: "false" })),
    field("From", h("input", { type: "date", name: "start_date" })),
    field("Before", h("input", { type: "date", name: "end_date" })),
    h("button", { type: "submit" }, "Filter"));

  async function load(): Promise<void> {
    await guarded(message, async () => {
      const value = (name: string): string => fieldValue(filters, name);
      const page = await api.get<Page<AuditEvent>>("/admin/audit", {
        action: value("action").toUpperCase(),
        actor_id: value("actor_id"),
        object_type: value("object_type"),
        object_id: value("object_id"),
        start_date: value("start_date"),
        end_date: value("end_date"),
        limit: PAGE_SIZE,
        ...trail.query(),
      });
      replace(list,
        table(["Time", "Actor", "Action", "Object", "Request id", "Context"], page.items.map((event) => [
          when(event.occurred_at),
          [event.actor_role, event.actor_id ? h("small", { class: "id" }, ` ${event.actor_id}`) : null],
          h("strong", null, event.action),
          [event.object_type ?? "", event.object_id ? h("small", { class: "id" }, ` ${event.object_id}`) : null],
          h("small", { class: "id" }, event.request_id ?? ""),
          h("code", { class: "context" }, JSON.stringify(event.context)),
        ]), "No events match."),
        pager(page, trail, () => void load()));
    });
  }

  void load();
  return section("Audit log", { id: "audit" }, filters, message, list);
}
