//! `GET /admin/reports/liability`: what the programme owes its card holders (issue 19), as JSON
//! or CSV.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::{LiabilityGroup, LiabilityReport, ReportFormat};

use crate::auth::Authorized;
use crate::auth::permissions::ReadStatistics;
use crate::db::liability;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{AppJson, AppQuery};
use crate::http::filters::parse_date_bound;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(liability_report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiabilityQuery {
    /// Inclusive start of the window: RFC 3339 or YYYY-MM-DD (business time zone).
    pub from: String,
    /// Exclusive end, the instant of the closing figures (default: now).
    pub to: Option<String>,
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

/// Stored value owed to card holders at `from` and at `to`, the recharges and refunds in and
/// payments out between (opening + in − out = closing, to the cent), the closing figure by card
/// type and by age of last activity, and breakage (balances on expired or closed vouchers).
#[utoipa::path(get, path = "/admin/reports/liability", tag = "admin", security(("bearer" = [])),
    params(LiabilityQuery),
    responses((status = 200, description = "The report", content((LiabilityReport = "application/json"), (String = "text/csv"))),
              (status = 422, description = "VALIDATION_FAILED", body = mps_api::error::ErrorEnvelope)))]
async fn liability_report(
    State(state): State<AppState>,
    _admin: Authorized<ReadStatistics>,
    AppQuery(query): AppQuery<LiabilityQuery>,
) -> ApiResult<Response> {
    let zone = state.config.business_timezone;
    let from = parse_date_bound("from", Some(&query.from), zone)?
        .ok_or_else(|| ApiError::validation("from", "is required"))?;
    let to = parse_date_bound("to", query.to.as_deref(), zone)?.unwrap_or_else(Utc::now);
    if from >= to {
        return Err(ApiError::validation("to", "must be after from"));
    }
    let report = liability::liability_report(&state.db, from, to).await?;
    Ok(match query.format.unwrap_or_default() {
        ReportFormat::Json => AppJson(report).into_response(),
        ReportFormat::Csv => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv_report(&report)).into_response(),
    })
}

/// `section,item,cards,amount` rows: the summary, then each breakdown.
fn csv_report(report: &LiabilityReport) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let mut rows: Vec<[String; 4]> = vec![["section".into(), "item".into(), "cards".into(), "amount".into()]];
    let summary = [
        ("opening_liability", report.opening_liability),
        ("recharges_in", report.recharges_in),
        ("refunds_in", report.refunds_in),
        ("payments_out", report.payments_out),
        ("closing_liability", report.closing_liability),
    ];
    rows.extend(
        summary.iter().map(|(item, amount)| ["summary".into(), (*item).into(), String::new(), amount.to_string()]),
    );
    let group = |section: &str, g: &LiabilityGroup| {
        [section.into(), g.group.clone(), g.cards.to_string(), g.amount.to_string()]
    };
    rows.extend(report.by_card_type.iter().map(|g| group("card_type", g)));
    rows.extend(report.by_last_activity.iter().map(|g| group("last_activity", g)));
    rows.push(group("breakage", &report.breakage));
    for row in rows {
        // Writing to a Vec cannot fail.
        let _ = writer.write_record(&row);
    }
    writer.into_inner().unwrap_or_default()
}
