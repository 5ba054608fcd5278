//! `admin …`: the back office. Accounts and cards have their own modules; points, statistics
//! and the audit log are here.

mod accounts;
mod cards;

use serde_json::Value;

use mps_api::admin::{AdjustPointsRequest, AdjustPointsResponse};
use mps_api::roles::Role;

use super::args::{AdminCommand, PageArg};
use super::error::{CliError, CliResult};
use super::table::{Column, Table};
use super::ui::{Style, local_time_of, text_of};
use super::{Ctx, page_query, print_page_footer};

/// Runs one `admin` command.
pub async fn run(ctx: &Ctx, command: AdminCommand) -> CliResult {
    ctx.session_as(Role::Admin, "admin")?;
    match command {
        AdminCommand::Member(command) => accounts::run(ctx, accounts::Kind::Member, command).await,
        AdminCommand::Merchant(command) => accounts::run(ctx, accounts::Kind::Merchant, command).await,
        AdminCommand::Card(command) => cards::run(ctx, command).await,
        AdminCommand::Points { card, delta, reason } => points(ctx, &card, delta, reason).await,
        AdminCommand::Stats => stats(ctx).await,
        AdminCommand::Audit { action, actor, object_type, object_id, since, until, page } => {
            let filters = [
                ("action", action),
                ("actor_id", actor),
                ("object_type", object_type),
                ("object_id", object_id),
                ("start_date", since),
                ("end_date", until),
            ];
            audit(ctx, filters, page).await
        }
    }
}

/// `admin points`: add or remove points; the level follows.
async fn points(ctx: &Ctx, card: &str, delta: i64, reason: String) -> CliResult {
    let card_id = cards::card_id(ctx, card).await?;
    let reply =
        ctx.api.post("/admin/points/adjust", &AdjustPointsRequest { card_id, delta_points: delta, reason }).await?;
    ctx.show(&reply, |ui, adjusted: AdjustPointsResponse| {
        println!("{} {:+} points", ui.paint(Style::Bold, &adjusted.card_no), delta);
        ui.kv(&[
            ("points", format!("{} → {}", adjusted.points_before, adjusted.points_after)),
            ("level", format!("{} → {}", adjusted.level_before, adjusted.level_after)),
        ]);
    })
}

/// `admin stats`
async fn stats(ctx: &Ctx) -> CliResult {
    let reply = ctx.api.get("/admin/statistics", &[]).await?;
    ctx.show(&reply, |ui, stats: Value| {
        let line = |group: &Value, fields: &[&str]| {
            fields.iter().map(|f| format!("{} {f}", text_of(&group[*f]))).collect::<Vec<_>>().join(" · ")
        };
        let by_type = &stats["cards"]["by_type"];
        let today = &stats["today"];
        let flow = |name: &str| format!("{:>5}  {}", text_of(&today[name]["count"]), text_of(&today[name]["amount"]));
        ui.heading("Accounts and cards");
        ui.kv(&[
            ("members", line(&stats["members"], &["total", "active", "suspended"])),
            ("merchants", line(&stats["merchants"], &["total", "active", "suspended"])),
            ("cards", line(&stats["cards"], &["total", "active", "inactive"])),
            ("by type", line(by_type, &["standard", "voucher", "corporate"])),
        ]);
        ui.heading("Today");
        ui.kv(&[
            ("payments", flow("payments")),
            ("refunds", flow("refunds")),
            ("recharges", flow("recharges")),
            ("QR codes issued", text_of(&today["qr_issued"])),
            ("new members", text_of(&today["new_members"])),
        ]);
    })
}

/// `admin audit`: the audit log with its filters.
async fn audit(ctx: &Ctx, filters: [(&'static str, Option<String>); 6], page: PageArg) -> CliResult {
    let mut query = page_query(page);
    query.extend(filters.into_iter().filter_map(|(name, value)| value.map(|v| (name, v))));
    let reply = ctx.api.get("/admin/audit", &query).await?;
    ctx.show(&reply, |ui, page: Value| {
        let mut table = Table::new(&[
            ("TIME", Column::Id),
            ("ACTOR", Column::Text),
            ("ACTION", Column::Text),
            ("OBJECT", Column::Text),
            ("REQUEST", Column::Text),
        ]);
        for event in page["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let actor_id = text_of(&event["actor_id"]);
            let actor = format!("{} {}", text_of(&event["actor_role"]), actor_id.get(..8).unwrap_or(&actor_id));
            let object = format!("{} {}", text_of(&event["object_type"]), text_of(&event["object_id"]));
            table.row(vec![
                local_time_of(&event["occurred_at"]).into(),
                actor.trim().to_owned().into(),
                text_of(&event["action"]).into(),
                object.trim().to_owned().into(),
                text_of(&event["request_id"]).into(),
            ]);
        }
        table.print(ui, "No audit events match.");
        print_page_footer(ui, &page);
    })
}

/// An id from a JSON answer that is the object itself or wraps it under `key`.
fn id_in(body: &Value, key: &str) -> CliResult<uuid::Uuid> {
    [&body["id"], &body[key]["id"]]
        .into_iter()
        .find_map(|v| v.as_str().and_then(|s| s.parse().ok()))
        .ok_or_else(|| CliError::local(format!("the server's answer names no {key} id; try --json to see it")))
}

/// The optional body of an action endpoint: `{}` or `{"reason": …}`.
fn action_body(reason: Option<String>) -> Value {
    match reason {
        Some(reason) => serde_json::json!({ "reason": reason }),
        None => serde_json::json!({}),
    }
}
