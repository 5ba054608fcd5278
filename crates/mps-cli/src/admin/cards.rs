//! `admin card …`: issue, search, show, freeze, unfreeze, credit, bindings.
//!
//! Card paths accept an id or a card_no (SPEC §3), so what the admin typed is passed through.

use serde_json::{Value, json};
use uuid::Uuid;

use mps_api::admin::CreditRequest;
use mps_api::member::RechargeResponse;

use super::super::args::{CardCommand, wire_name};
use super::super::error::CliResult;
use super::super::table::{Cell, Column, Table};
use super::super::ui::{Style, local_time_of, text_of};
use super::super::{Ctx, idempotency_key, page_query, print_page_footer, secret, tx};
use super::{action_body, id_in};

const CARD_FIELDS: &[&str] = &[
    "id",
    "card_no",
    "card_type",
    "name",
    "status",
    "balance",
    "points",
    "level",
    "discount",
    "fixed_discount",
    "owner_member_no",
    "owner_name",
    "binding_count",
    "has_binding_password",
    "expires_at",
    "created_at",
];

/// Runs one card command.
pub async fn run(ctx: &Ctx, command: CardCommand) -> CliResult {
    match command {
        CardCommand::Create { card_type, owner, name, discount, binding_password, balance, expires } => {
            let owner_member_id = member_id(ctx, &owner).await?;
            let binding_password = match binding_password {
                true => Some(secret("MPS_BINDING_PASSWORD", "Binding password: ", true)?),
                false => None,
            };
            let mut body = json!({ "card_type": wire_name(&card_type), "owner_member_id": owner_member_id });
            let optional = [
                ("name", name),
                ("fixed_discount", discount),
                ("binding_password", binding_password),
                ("initial_balance", balance.map(|b| b.to_string())),
                ("expires_at", expires),
            ];
            for (field, value) in optional {
                if let Some(value) = value {
                    body[field] = Value::String(value);
                }
            }
            let reply = ctx.api.post("/admin/cards", &body).await?;
            ctx.show(&reply, |ui, created: Value| {
                let card = if created["card"].is_object() { &created["card"] } else { &created };
                println!(
                    "{} {} issued",
                    ui.paint(Style::Green, "Card"),
                    ui.paint(Style::Bold, &text_of(&card["card_no"]))
                );
                ui.kv_of(card, CARD_FIELDS);
            })
        }
        CardCommand::List { q, card_type, status, page } => {
            let mut query = page_query(page);
            let filters = [("q", q), ("card_type", card_type.map(|t| wire_name(&t))), ("status", status)];
            query.extend(filters.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            let reply = ctx.api.get("/admin/cards", &query).await?;
            ctx.show(&reply, |ui, page: Value| {
                print_cards(ui, page["items"].as_array().map(Vec::as_slice).unwrap_or_default());
                print_page_footer(ui, &page);
            })
        }
        CardCommand::Show { card } => {
            let reply = ctx.api.get(&format!("/admin/cards/{}", card.trim()), &[]).await?;
            ctx.show(&reply, |ui, card: Value| ui.kv_of(&card, CARD_FIELDS))
        }
        CardCommand::Freeze { card, reason } => status_change(ctx, &card, "freeze", reason).await,
        CardCommand::Unfreeze { card, reason } => status_change(ctx, &card, "unfreeze", reason).await,
        CardCommand::Credit { card, amount, reason, key } => {
            let path = format!("/admin/cards/{}/recharge", card.trim());
            let reply = ctx
                .api
                .post_keyed(&path, &idempotency_key(&key), &CreditRequest { amount: amount.into(), reason })
                .await?;
            ctx.note_replay(&reply);
            ctx.show(&reply, |ui, credited: RechargeResponse| {
                let tx = &credited.transaction;
                println!(
                    "{} {} to {}",
                    ui.paint(Style::Green, "Credited"),
                    ui.paint(Style::Bold, &tx.final_amount.to_string()),
                    tx.card_no
                );
                ui.kv(&tx::receipt(tx));
            })
        }
        CardCommand::Bindings { card } => {
            let reply = ctx.api.get(&format!("/admin/cards/{}/bindings", card.trim()), &[]).await?;
            ctx.show(&reply, |ui, body: Value| {
                let items = body.as_array().or_else(|| body["items"].as_array()).map(Vec::as_slice).unwrap_or_default();
                let mut table = Table::new(&[
                    ("MEMBER", Column::Id),
                    ("NAME", Column::Text),
                    ("ROLE", Column::Text),
                    ("SINCE", Column::Id),
                ]);
                for binding in items {
                    table.row(vec![
                        text_of(&binding["member_no"]).into(),
                        text_of(&binding["name"]).into(),
                        text_of(&binding["role"]).into(),
                        local_time_of(&binding["created_at"]).into(),
                    ]);
                }
                table.print(ui, "No bindings.");
            })
        }
    }
}

/// The id of a card given by id or card_no.
pub async fn card_id(ctx: &Ctx, card: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(card.trim()) {
        return Ok(id);
    }
    id_in(&ctx.api.get(&format!("/admin/cards/{}", card.trim()), &[]).await?.body, "card")
}

/// The id of a member given by id or member_no.
async fn member_id(ctx: &Ctx, member: &str) -> CliResult<Uuid> {
    if let Ok(id) = Uuid::parse_str(member.trim()) {
        return Ok(id);
    }
    id_in(&ctx.api.get(&format!("/admin/members/{}", member.trim()), &[]).await?.body, "member")
}

async fn status_change(ctx: &Ctx, card: &str, action: &str, reason: Option<String>) -> CliResult {
    let reply = ctx.api.post(&format!("/admin/cards/{}/{action}", card.trim()), &action_body(reason)).await?;
    ctx.show(&reply, |ui, answer: Value| {
        let status = [&answer["status"], &answer["card"]["status"]].into_iter().find_map(Value::as_str);
        let status = status.map(str::to_owned).unwrap_or_else(|| format!("{action}d"));
        println!("Card {} is now {}.", card.trim().to_ascii_uppercase(), ui.paint(Style::Bold, &status));
    })
}

fn print_cards(ui: &super::super::ui::Ui, cards: &[Value]) {
    let mut table = Table::new(&[
        ("CARD", Column::Id),
        ("TYPE", Column::Text),
        ("NAME", Column::Text),
        ("OWNER", Column::Text),
        ("LEVEL", Column::Number),
        ("POINTS", Column::Number),
        ("BALANCE", Column::Number),
        ("STATUS", Column::Text),
    ]);
    for card in cards {
        table.row(vec![
            text_of(&card["card_no"]).into(),
            text_of(&card["card_type"]).into(),
            text_of(&card["name"]).into(),
            text_of(&card["owner_member_no"]).into(),
            text_of(&card["level"]).into(),
            text_of(&card["points"]).into(),
            text_of(&card["balance"]).into(),
            Cell::status(text_of(&card["status"])),
        ]);
    }
    table.print(ui, "No cards match.");
}
