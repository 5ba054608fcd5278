//! `GET /levels`: the membership level table, public, cached in Redis (falling back to
//! PostgreSQL whenever the cache misses or is down).

use std::time::Duration;

use axum::extract::State;
use chrono::DateTime;
use utoipa_axum::{router::OpenApiRouter, routes};

use mps_api::admin::Level;
use mps_api::pagination::{Page, PageParams};

use crate::db::levels;
use crate::error::ApiResult;
use crate::http::extract::{AppJson, AppQuery};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_levels))
}

/// The cache entry of the level table.
const CACHE_KEY: &str = "levels";
/// Replacing the table deletes the entry; the lifetime bounds staleness if that delete is lost
/// while Redis is down. Prices never come from here: `set_card_points` reads the table itself.
const CACHE_TTL: Duration = Duration::from_secs(60);

/// The active levels, from the cache when it holds them.
pub async fn level_table(state: &AppState) -> ApiResult<Vec<Level>> {
    if let Some(cached) = state.cache.get_json::<Vec<Level>>(CACHE_KEY).await {
        return Ok(cached);
    }
    let table = levels::level_table_json(&state.db).await?;
    state.cache.set_json(CACHE_KEY, &table, CACHE_TTL).await;
    Ok(table)
}

/// Forgets the cached table after a replacement.
pub async fn invalidate_level_table(state: &AppState) {
    if let Err(e) = state.cache.delete(&[CACHE_KEY.to_owned()]).await {
        tracing::warn!(error = %e, "level table cache not invalidated; it expires within a minute");
    }
}

/// The membership levels, lowest first: a card's level is the one whose point range holds its points.
#[utoipa::path(get, path = "/levels", tag = "levels",
    params(PageParams),
    responses((status = 200, body = Page<Level>)))]
async fn list_levels(
    State(state): State<AppState>,
    AppQuery(page): AppQuery<PageParams>,
) -> ApiResult<AppJson<Page<Level>>> {
    let paging = page.paging("levels", &state.config)?;
    let table = level_table(&state).await?;
    // A handful of rows, cached: always counted; a cursor's key is the level number.
    let total = i64::try_from(table.len()).unwrap_or(i64::MAX);
    let after: Option<i32> = paging.after_key().and_then(|key| key.parse().ok());
    let skip = usize::try_from(paging.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(paging.fetch_limit()).unwrap_or(0);
    let rows = table.into_iter().filter(|l| after.is_none_or(|a| l.level > a)).skip(skip).take(take).collect();
    Ok(AppJson(Page::from_rows(rows, &paging, Some(total), |l: &Level| (DateTime::UNIX_EPOCH, l.level.to_string()))))
}
