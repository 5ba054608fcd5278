//! Merchant books: `sales` (daily summary), `settle` and `settlements`.
//!
//! These answers are read field by field from JSON rather than through server types, so the
//! client keeps working while their optional fields evolve; SPEC §3 names the fields relied on.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use serde_json::{Value, json};

use super::args::{PageArg, SettleMode, wire_name};
use super::error::CliResult;
use super::table::{Cell, Column, Table};
use super::ui::{Style, Ui, local_time_of, text_of};
use super::{Ctx, page_query, print_page_footer};
use mps_api::roles::Role;

/// The period a settlement covers, as typed.
#[derive(Debug)]
pub struct Period {
    pub mode: SettleMode,
    pub date: Option<NaiveDate>,
    pub month: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
}

/// `sales`: a day's payments and refunds, hour by hour.
pub async fn sales(ctx: &Ctx, date: Option<NaiveDate>) -> CliResult {
    let session = ctx.session_as(Role::Merchant, "sales")?;
    let query: Vec<(&str, String)> = date.map(|d| ("date", d.to_string())).into_iter().collect();
    let reply = ctx.api.get("/merchant/daily-summary", &query).await?;
    ctx.show(&reply, |ui, day: Value| {
        let summary = &day["summary"];
        ui.heading(&format!("Sales of {} · {}", text_of(&day["date"]), session.name));
        let count = |field: &str| text_of(&summary[field]);
        ui.kv(&[
            ("payments", format!("{:>5}  {}", count("payment_count"), text_of(&summary["payment_amount"]))),
            ("refunds", format!("{:>5}  {}", count("refund_count"), text_of(&summary["refund_amount"]))),
            ("net", format!("{:>5}  {}", "", text_of(&summary["net_amount"]))),
        ]);
        print_hours(ui, day["hourly"].as_array().map(Vec::as_slice).unwrap_or_default());
    })
}

/// The busy hours as a bar chart sized to the terminal.
fn print_hours(ui: &Ui, hours: &[Value]) {
    let busy: Vec<&Value> = hours.iter().filter(|h| h["count"].as_i64().unwrap_or(0) > 0).collect();
    if busy.is_empty() {
        println!("{}", ui.paint(Style::Dim, "No sales in this day."));
        return;
    }
    let amount = |h: &Value| text_of(&h["amount"]).parse::<Decimal>().unwrap_or_default();
    let top = busy.iter().map(|h| amount(h)).max().unwrap_or_default().max(Decimal::new(1, 2));
    let bar_room = Decimal::from(ui.width.saturating_sub(30).clamp(5, 50));
    let mut table =
        Table::new(&[("HOUR", Column::Id), ("COUNT", Column::Number), ("AMOUNT", Column::Number), ("", Column::Text)]);
    for hour in busy {
        let label = match &hour["hour"] {
            Value::Null => local_time_of(&hour["start"]).chars().skip(11).take(5).collect(),
            other => format!("{:0>2}:00", text_of(other)),
        };
        let cells = (amount(hour) * bar_room / top).round().to_usize().unwrap_or(1).max(1);
        let bar = "█".repeat(cells);
        table.row(vec![label.into(), text_of(&hour["count"]).into(), text_of(&hour["amount"]).into(), bar.into()]);
    }
    table.print(ui, "");
}

/// `settle`: settles a closed period.
pub async fn settle(ctx: &Ctx, period: Period) -> CliResult {
    ctx.session_as(Role::Merchant, "settle")?;
    let mut body = json!({ "mode": wire_name(&period.mode) });
    let fields = [
        ("date", period.date.map(|d| d.to_string())),
        ("month", period.month),
        ("period_start", period.start),
        ("period_end", period.end),
    ];
    for (field, value) in fields {
        if let Some(value) = value {
            body[field] = Value::String(value);
        }
    }
    let reply = ctx.api.post("/merchant/settlements", &body).await?;
    ctx.show(&reply, |ui, settlement: Value| {
        ui.heading(&format!("Settlement {}", text_of(&settlement["settlement_no"])));
        let field = |name: &str| text_of(&settlement[name]);
        ui.kv(&[
            ("mode", field("mode")),
            ("from", local_time_of(&settlement["period_start"])),
            ("until", local_time_of(&settlement["period_end"])),
            ("payments", format!("{:>5}  {}", field("payment_count"), field("payment_amount"))),
            ("refunds", format!("{:>5}  {}", field("refund_count"), field("refund_amount"))),
            ("top-ups", format!("{:>5}  {}", field("topup_count"), field("topup_amount"))),
            ("net", format!("{:>5}  {}", "", field("net_amount"))),
            ("status", field("status")),
        ]);
    })
}

/// `settlements`: the merchant's settlements, newest first.
pub async fn settlements(ctx: &Ctx, page: PageArg) -> CliResult {
    ctx.session_as(Role::Merchant, "settlements")?;
    let reply = ctx.api.get("/merchant/settlements", &page_query(page)).await?;
    ctx.show(&reply, |ui, page: Value| {
        let mut table = Table::new(&[
            ("SETTLEMENT", Column::Id),
            ("MODE", Column::Text),
            ("FROM", Column::Id),
            ("UNTIL", Column::Id),
            ("PAYMENTS", Column::Number),
            ("REFUNDS", Column::Number),
            ("TOP-UPS", Column::Number),
            ("NET", Column::Number),
            ("STATUS", Column::Text),
        ]);
        for s in page["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
            table.row(vec![
                text_of(&s["settlement_no"]).into(),
                text_of(&s["mode"]).into(),
                local_time_of(&s["period_start"]).into(),
                local_time_of(&s["period_end"]).into(),
                text_of(&s["payment_amount"]).into(),
                text_of(&s["refund_amount"]).into(),
                text_of(&s["topup_amount"]).into(),
                text_of(&s["net_amount"]).into(),
                Cell::status(text_of(&s["status"])),
            ]);
        }
        table.print(ui, "No settlements yet.");
        print_page_footer(ui, &page);
    })
}
