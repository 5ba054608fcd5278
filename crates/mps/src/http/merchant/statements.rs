//! `GET /merchant/statements`: a merchant's statement of any window (issue 19) — opening total,
//! every movement, closing total, fee placeholder columns — as JSON or RFC 4180 CSV, streamed.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt as _, stream};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::merchant::{StatementFormat, StatementMovement, StatementTotalsView, StatementView};
use mps_api::money::SignedMoney;

use crate::auth::Authorized;
use crate::auth::permissions::ReadStatements;
use crate::db::statements;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::AppQuery;
use crate::http::filters::parse_date_bound;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(merchant_statement))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// Inclusive start: RFC 3339, or YYYY-MM-DD (midnight in the business time zone).
    pub from: String,
    /// Exclusive end, same forms.
    pub to: String,
    /// `json` (default) or `csv`.
    #[param(inline)]
    pub format: Option<StatementFormat>,
    /// One store's statement, by code (default: the whole merchant; a store-restricted caller:
    /// its store, and another store is 403 `STORE_NOT_ALLOWED`). The stores' statements add up
    /// to the merchant's.
    pub store: Option<String>,
}

/// The CSV columns, in order.
const CSV_HEADER: [&str; 14] = [
    "kind",
    "created_at",
    "tx_no",
    "tx_type",
    "payment_method",
    "card_no",
    "original_tx_no",
    "external_order_id",
    "operator",
    "store_code",
    "gross_amount",
    "fee_amount",
    "net_amount",
    "running_total",
];

/// Your statement of `[from, to)`: opening total, every payment (+), refund (−) and counter top-up
/// (−) with fee placeholder columns (`fee_amount`: reserved, always 0.00 today; `net_amount` =
/// gross − fee), closing total. Its totals equal a settlement of the same window. `?store=CODE`:
/// one store's statement (the stores' add up to the merchant's). CSV (RFC 4180: fields with
/// `,` `"` or line breaks quoted, `"` doubled; CRLF): a header row, then an `opening` row, one
/// `movement` row each, a `closing` row.
#[utoipa::path(get, path = "/merchant/statements", tag = "merchant", security(("bearer" = [])),
    params(StatementQuery),
    responses((status = 200, description = "The statement", content((StatementView = "application/json"), (String = "text/csv"))),
              (status = 403, description = "STORE_NOT_ALLOWED: a store-restricted caller asked for another store",
               body = mps_api::error::ErrorEnvelope),
              (status = 404, description = "STORE_NOT_FOUND", body = mps_api::error::ErrorEnvelope),
              (status = 422, description = "VALIDATION_FAILED", body = mps_api::error::ErrorEnvelope)))]
async fn merchant_statement(
    State(state): State<AppState>,
    merchant: Authorized<ReadStatements>,
    AppQuery(query): AppQuery<StatementQuery>,
) -> ApiResult<Response> {
    let zone = state.config.business_timezone;
    let from = parse_date_bound("from", Some(&query.from), zone)?
        .ok_or_else(|| ApiError::validation("from", "is required"))?;
    let to = parse_date_bound("to", Some(&query.to), zone)?.ok_or_else(|| ApiError::validation("to", "is required"))?;
    if from >= to {
        return Err(ApiError::validation("to", "must be after from"));
    }
    let store = super::stores::report_store(&state, &merchant, query.store.as_deref()).await?;
    let snapshot = statements::merchant_statement(&state.db, merchant.id, store, from, to).await?;
    Ok(match query.format.unwrap_or_default() {
        StatementFormat::Json => json_statement(snapshot, from, to),
        StatementFormat::Csv => csv_statement(snapshot, from, to),
    })
}

fn json_statement(snapshot: statements::StatementSnapshot, from: DateTime<Utc>, to: DateTime<Utc>) -> Response {
    let net = snapshot.totals.net();
    let head = json!({
        "merchant_code": snapshot.merchant_code,
        "store_code": snapshot.store_code,
        "from": from,
        "to": to,
        "opening_total": SignedMoney::from_decimal(snapshot.opening),
        "closing_total": SignedMoney::from_decimal(snapshot.opening + net),
        "totals": StatementTotalsView {
            counts: snapshot.totals.clone(),
            fee_amount: SignedMoney::from_decimal(Decimal::ZERO),
            net_amount: SignedMoney::from_decimal(net),
        },
    })
    .to_string();
    // `{…head…, "movements": [` + rows separated by commas + `]}`.
    let opening = format!("{},\"movements\":[", head.strip_suffix('}').unwrap_or(&head));
    let rows = snapshot.movements().enumerate().map(|(i, row)| {
        let row = row?;
        let text = serde_json::to_string(&row).map_err(std::io::Error::other)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Bytes::from(if i == 0 { text } else { format!(",{text}") }))
    });
    let body = stream::once(async move { Ok(Bytes::from(opening)) })
        .chain(rows)
        .chain(stream::once(async { Ok(Bytes::from_static(b"]}")) }));
    ([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response()
}

fn csv_statement(snapshot: statements::StatementSnapshot, from: DateTime<Utc>, to: DateTime<Utc>) -> Response {
    let net = snapshot.totals.net();
    let opening_total = snapshot.opening;
    let zero = plain(Decimal::ZERO);
    let head = [
        csv_line(&CSV_HEADER),
        csv_line(&["opening", &from.to_rfc3339(), "", "", "", "", "", "", "", "", "", "", "", &plain(opening_total)]),
    ]
    .concat();
    let closing = csv_line(&[
        "closing",
        &to.to_rfc3339(),
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        &plain(net),
        &zero,
        &plain(net),
        &plain(opening_total + net),
    ]);
    let rows = snapshot.movements().scan(opening_total, |running, row| {
        let line = row.map(|m| {
            *running += m.net_amount.amount();
            movement_line(&m, *running)
        });
        std::future::ready(Some(line.map_err(Box::<dyn std::error::Error + Send + Sync>::from)))
    });
    let body = stream::once(async move { Ok(Bytes::from(head)) })
        .chain(rows)
        .chain(stream::once(async move { Ok(Bytes::from(closing)) }));
    let disposition = format!(
        "attachment; filename=\"statement-{}-{}.csv\"",
        from.format("%Y%m%dT%H%M%SZ"),
        to.format("%Y%m%dT%H%M%SZ")
    );
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        Body::from_stream(body),
    )
        .into_response()
}

fn movement_line(m: &StatementMovement, running: Decimal) -> Bytes {
    Bytes::from(csv_line(&[
        "movement",
        &m.created_at.to_rfc3339(),
        &m.tx_no,
        &m.tx_type,
        &m.payment_method,
        &m.card_no,
        m.original_tx_no.as_deref().unwrap_or(""),
        &spreadsheet_safe(m.external_order_id.as_deref().unwrap_or("")),
        &spreadsheet_safe(m.operator.as_deref().unwrap_or("")),
        &m.store_code,
        &m.gross_amount.to_string(),
        &m.fee_amount.to_string(),
        &m.net_amount.to_string(),
        &plain(running),
    ]))
}

/// An amount as a plain decimal with two places: `-12.50`.
fn plain(amount: Decimal) -> String {
    format!("{amount:.2}")
}

/// Free text a merchant's client wrote (order ids, cashier names) must not start a spreadsheet
/// formula: such a cell is prefixed with `'` (OWASP's advice for CSV injection).
fn spreadsheet_safe(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() }
}

/// One RFC 4180 record (quoted where needed, CRLF-terminated).
fn csv_line(fields: &[&str]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = writer.write_record(fields);
    writer.into_inner().unwrap_or_default()
}
