//! Member commands: `cards`, `recharge`, `tx`, `points`, `bind`, `unbind`.
//!
//! Members type card numbers; the API wants card ids, so each command first finds the card in
//! `GET /member/cards`.

use serde_json::json;

use mps_api::domain::{CardView, TransactionView};
use mps_api::member::{LedgerEntry, MemberCardsResponse, RechargeChannel, RechargeRequest, RechargeResponse};
use mps_api::money::Money;
use mps_api::pagination::Page;
use mps_api::roles::Role;

use super::args::{BindRole, Channel, KeyArg, PageArg, wire_name};
use super::error::{CliError, CliResult};
use super::table::{Cell, Column, Table};
use super::ui::{Style, local_time, wire};
use super::{Ctx, idempotency_key, page_query, print_page_footer, secret, tx};

/// The caller's card with this number (any case), from the card list.
pub async fn resolve_card(ctx: &Ctx, card_no: &str) -> CliResult<CardView> {
    let cards: MemberCardsResponse = ctx.api.get("/member/cards", &[]).await?.parse()?;
    let wanted = card_no.trim();
    cards
        .items
        .into_iter()
        .find(|c| c.card_no.eq_ignore_ascii_case(wanted))
        .ok_or_else(|| CliError::local(format!("you hold no card {wanted}: `mps-cli cards` lists yours")))
}

/// `cards`
pub async fn cards(ctx: &Ctx) -> CliResult {
    ctx.session_as(Role::Member, "cards")?;
    let reply = ctx.api.get("/member/cards", &[]).await?;
    ctx.show(&reply, |ui, cards: MemberCardsResponse| {
        let mut table = Table::new(&[
            ("CARD", Column::Id),
            ("TYPE", Column::Text),
            ("NAME", Column::Text),
            ("ROLE", Column::Text),
            ("LEVEL", Column::Number),
            ("DISCOUNT", Column::Number),
            ("POINTS", Column::Number),
            ("BALANCE", Column::Number),
            ("STATUS", Column::Text),
        ]);
        for card in &cards.items {
            table.row(vec![
                card.card_no.as_str().into(),
                wire(&card.card_type).into(),
                card.name.as_str().into(),
                card.role.as_ref().map(wire).unwrap_or_default().into(),
                card.level.to_string().into(),
                format!("×{}", card.effective_discount).into(),
                card.points.to_string().into(),
                card.balance.to_string().into(),
                Cell::status(wire(&card.status)),
            ]);
        }
        table.print(ui, "You hold no cards.");
        let summary = &cards.summary;
        println!(
            "{}",
            ui.paint(
                Style::Dim,
                &format!(
                    "{} card{}, {} active · balance {} · {} points",
                    summary.total_cards,
                    if summary.total_cards == 1 { "" } else { "s" },
                    summary.active_cards,
                    summary.total_balance,
                    summary.total_points
                )
            )
        );
    })
}

/// `recharge`: a recharge order, credited when the payment channel confirms it.
pub async fn recharge(ctx: &Ctx, card_no: &str, amount: Money, method: Channel, key: &KeyArg) -> CliResult {
    ctx.session_as(Role::Member, "recharge")?;
    let card = resolve_card(ctx, card_no).await?;
    let payment_method = match method {
        Channel::Wechat => RechargeChannel::Wechat,
        Channel::Alipay => RechargeChannel::Alipay,
        Channel::Bank => RechargeChannel::Bank,
    };
    let request = RechargeRequest { card_id: card.id, amount: amount.into(), payment_method, external_order_id: None };
    let reply = ctx.api.post_keyed("/member/recharge", &idempotency_key(key), &request).await?;
    ctx.note_replay(&reply);
    ctx.show(&reply, |ui, order: RechargeResponse| {
        let tx = &order.transaction;
        println!(
            "Recharge order {} of {} by {} for {}: {}.",
            ui.paint(Style::Bold, &tx.tx_no),
            tx.final_amount,
            wire_name(&method),
            tx.card_no,
            tx::wire_status(tx)
        );
        println!("The card is credited when {} confirms the payment.", wire_name(&method));
    })
}

/// `tx`: the member's transactions, optionally of one card.
pub async fn transactions(ctx: &Ctx, card_no: Option<&str>, page: PageArg) -> CliResult {
    ctx.session_as(Role::Member, "tx")?;
    let mut query = page_query(page);
    if let Some(card_no) = card_no {
        query.push(("card_id", resolve_card(ctx, card_no).await?.id.to_string()));
    }
    let reply = ctx.api.get("/member/transactions", &query).await?;
    ctx.show(&reply, |ui, page: Page<TransactionView>| {
        tx::print_table(ui, &page.items);
        print_page_footer(ui, &reply.body);
    })
}

/// `points`: the points ledger of a card.
pub async fn points(ctx: &Ctx, card_no: &str, page: PageArg) -> CliResult {
    ctx.session_as(Role::Member, "points")?;
    let card = resolve_card(ctx, card_no).await?;
    let reply = ctx.api.get(&format!("/member/points/{}", card.id), &page_query(page)).await?;
    ctx.show(&reply, |ui, ledger: Page<LedgerEntry>| {
        println!("{} · {} points · level {}", ui.paint(Style::Bold, &card.card_no), card.points, card.level);
        let mut table = Table::new(&[
            ("TIME", Column::Id),
            ("CHANGE", Column::Number),
            ("AFTER", Column::Number),
            ("REASON", Column::Text),
            ("TX", Column::Id),
            ("NOTE", Column::Text),
        ]);
        for entry in &ledger.items {
            table.row(vec![
                local_time(entry.created_at).into(),
                format!("{:+}", entry.delta).into(),
                entry.points_after.to_string().into(),
                entry.reason.as_str().into(),
                entry.tx_no.clone().unwrap_or_default().into(),
                entry.note.clone().unwrap_or_default().into(),
            ]);
        }
        table.print(ui, "No points movements yet.");
        print_page_footer(ui, &reply.body);
    })
}

/// `bind`: join a shared card with its binding password.
pub async fn bind(ctx: &Ctx, card_no: &str, role: BindRole) -> CliResult {
    ctx.session_as(Role::Member, "bind")?;
    let password = secret("MPS_BINDING_PASSWORD", &format!("Binding password of {card_no}: "), false)?;
    let body = json!({ "card_no": card_no.trim(), "role": wire_name(&role), "binding_password": password });
    let reply = ctx.api.post("/member/bindings", &body).await?;
    ctx.show(&reply, |_, _: serde_json::Value| {
        println!("You are now bound to {} as {}.", card_no.trim().to_ascii_uppercase(), wire_name(&role));
    })
}

/// `unbind`: leave a shared card.
pub async fn unbind(ctx: &Ctx, card_no: &str) -> CliResult {
    ctx.session_as(Role::Member, "unbind")?;
    let card = resolve_card(ctx, card_no).await?;
    let reply = ctx.api.delete(&format!("/member/bindings/{}", card.id)).await?;
    ctx.show(&reply, |_, _: serde_json::Value| println!("You left {}.", card.card_no))
}
