//! Transactions as tables and short receipts, shared by member and merchant commands.

use super::table::{Cell, Column, Table};
use super::ui::{Style, Ui, local_time, wire};
use mps_api::domain::{TransactionView, TxType};

/// A table of transactions; amounts signed from the card's point of view.
pub fn print_table(ui: &Ui, items: &[TransactionView]) {
    let mut table = Table::new(&[
        ("TIME", Column::Id),
        ("TX", Column::Id),
        ("TYPE", Column::Text),
        ("CARD", Column::Id),
        ("MERCHANT", Column::Text),
        ("AMOUNT", Column::Number),
        ("POINTS", Column::Number),
        ("STATUS", Column::Text),
    ]);
    for tx in items {
        let amount = signed_amount(tx);
        let amount = if amount.starts_with('+') { Cell::styled(amount, Style::Green) } else { Cell::plain(amount) };
        let points = if tx.points_earned == 0 { String::new() } else { format!("{:+}", tx.points_earned) };
        table.row(vec![
            local_time(tx.created_at).into(),
            tx.tx_no.as_str().into(),
            tx.tx_type.as_str().into(),
            tx.card_no.as_str().into(),
            tx.merchant_code.clone().unwrap_or_default().into(),
            amount,
            points.into(),
            Cell::status(wire_status(tx)),
        ]);
    }
    table.print(ui, "No transactions.");
}

/// The final amount, `-` for money leaving the card and `+` for money coming in.
pub fn signed_amount(tx: &TransactionView) -> String {
    let sign = if tx.tx_type == TxType::Payment { '-' } else { '+' };
    format!("{sign}{}", tx.final_amount)
}

/// The status word as the API writes it.
pub fn wire_status(tx: &TransactionView) -> String {
    wire(&tx.status)
}

/// The lines of a receipt: amounts, discount, points, status.
pub fn receipt(tx: &TransactionView) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("transaction", tx.tx_no.clone()), ("card", tx.card_no.clone())];
    if tx.raw_amount != tx.final_amount {
        pairs.push(("amount", tx.raw_amount.to_string()));
        pairs.push(("discount", format!("×{}", tx.discount_applied)));
    }
    pairs.push(("final amount", tx.final_amount.to_string()));
    if tx.points_earned != 0 {
        pairs.push(("points", format!("{:+}", tx.points_earned)));
    }
    if let Some(order) = &tx.external_order_id {
        pairs.push(("order", order.clone()));
    }
    if let Some(operator) = &tx.operator {
        pairs.push(("cashier", operator.clone()));
    }
    pairs.push(("status", wire_status(tx)));
    pairs.push(("time", local_time(tx.created_at)));
    pairs
}
