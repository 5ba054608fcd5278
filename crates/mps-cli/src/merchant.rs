//! Merchant commands at the till: `validate`, `charge`, `refund`, `topup`, `tx`.
//!
//! Every money-moving command makes ONE idempotency key and sends it on each retry of that
//! request, so a charge whose answer was lost is answered again, never made twice.

use serde_json::{Map, Value};

use mps_api::domain::TransactionView;
use mps_api::member::RechargeResponse;
use mps_api::merchant::{
    ChargeRequest, ChargeResponse, RefundRequest, RefundResponse, TopupRequest, ValidateQrRequest, ValidatedQr,
};
use mps_api::money::Money;
use mps_api::pagination::Page;
use mps_api::roles::Role;

use super::args::{KeyArg, PageArg};
use super::error::CliResult;
use super::ui::{Style, wire};
use super::{Ctx, idempotency_key, page_query, print_page_footer, tx};

pub use super::reports::{Period, sales, settle, settlements};

/// What the cashier rings up.
#[derive(Debug)]
pub struct Sale {
    pub qr: String,
    pub amount: Money,
    pub order_id: Option<String>,
    pub tags: Vec<(String, String)>,
    /// The store charging, by code.
    pub store: Option<String>,
}

/// `validate`: what the QR code's card is, without charging it (never its balance).
pub async fn validate(ctx: &Ctx, qr: &str) -> CliResult {
    ctx.session_as(Role::Merchant, "validate")?;
    let reply = ctx.api.post("/merchant/qr/validate", &ValidateQrRequest { qr_plain: qr.trim().to_owned() }).await?;
    ctx.show(&reply, |ui, card: ValidatedQr| {
        println!("{} valid", ui.paint(Style::Green, "QR code"));
        ui.kv(&[
            ("card", card.card_no),
            ("type", wire(&card.card_type)),
            ("level", card.level.to_string()),
            ("status", wire(&card.status)),
            ("expires", super::ui::local_time(card.expires_at)),
        ]);
    })
}

/// `charge`: charges the QR code's card.
pub async fn charge(ctx: &Ctx, sale: Sale, key: &KeyArg) -> CliResult {
    ctx.session_as(Role::Merchant, "charge")?;
    let tag = (!sale.tags.is_empty())
        .then(|| Value::Object(sale.tags.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>()));
    let request = ChargeRequest {
        qr_plain: sale.qr.trim().to_owned(),
        amount: sale.amount.into(),
        external_order_id: sale.order_id,
        tag,
        store: sale.store,
    };
    let reply = ctx.api.post_keyed("/merchant/charge", &idempotency_key(key), &request).await?;
    ctx.note_replay(&reply);
    ctx.show(&reply, |ui, charged: ChargeResponse| {
        let card = &charged.card;
        println!(
            "{} {} from {} ({}, level {})",
            ui.paint(Style::Green, "Charged"),
            ui.paint(Style::Bold, &charged.transaction.final_amount.to_string()),
            card.card_no,
            wire(&card.card_type),
            card.level
        );
        ui.kv(&tx::receipt(&charged.transaction));
    })
}

/// `refund`: all or part of one of the merchant's payments.
pub async fn refund(ctx: &Ctx, tx_no: &str, amount: Money, reason: Option<String>, key: &KeyArg) -> CliResult {
    ctx.session_as(Role::Merchant, "refund")?;
    let request = RefundRequest { original_tx_no: tx_no.trim().to_owned(), amount: amount.into(), reason, tag: None };
    let reply = ctx.api.post_keyed("/merchant/refund", &idempotency_key(key), &request).await?;
    ctx.note_replay(&reply);
    ctx.show(&reply, |ui, refunded: RefundResponse| {
        println!(
            "{} {} of {}",
            ui.paint(Style::Green, "Refunded"),
            ui.paint(Style::Bold, &refunded.refund.final_amount.to_string()),
            refunded.original.tx_no
        );
        let mut pairs = tx::receipt(&refunded.refund);
        pairs.push(("refunded so far", refunded.original.refunded_total.to_string()));
        pairs.push(("still refundable", refunded.original.remaining_refundable.to_string()));
        ui.kv(&pairs);
    })
}

/// `topup`: cash at the counter, credited at once.
pub async fn topup(ctx: &Ctx, card_no: &str, amount: Money, store: Option<String>, key: &KeyArg) -> CliResult {
    ctx.session_as(Role::Merchant, "topup")?;
    let request = TopupRequest { card_no: card_no.trim().to_owned(), amount: amount.into(), store };
    let reply = ctx.api.post_keyed("/merchant/recharge", &idempotency_key(key), &request).await?;
    ctx.note_replay(&reply);
    ctx.show(&reply, |ui, credited: RechargeResponse| {
        let tx = &credited.transaction;
        println!(
            "{} {} to {}",
            ui.paint(Style::Green, "Topped up"),
            ui.paint(Style::Bold, &tx.final_amount.to_string()),
            tx.card_no
        );
        ui.kv(&tx::receipt(tx));
    })
}

/// `tx` for a merchant: its own transactions.
pub async fn transactions(ctx: &Ctx, page: PageArg) -> CliResult {
    ctx.session_as(Role::Merchant, "tx")?;
    let reply = ctx.api.get("/merchant/transactions", &page_query(page)).await?;
    ctx.show(&reply, |ui, page: Page<TransactionView>| {
        tx::print_table(ui, &page.items);
        print_page_footer(ui, &reply.body);
    })
}
