//! List pagination (issue 15, amending SPEC §3): keyset pages by an opaque `cursor`, `offset`
//! kept for old clients up to [`MAX_OFFSET`], and `total_count` only on request.
//!
//! Request: `?limit=` (default 20, clamped to 100), `?cursor=` (the previous page's
//! `next_cursor`) or `?offset=` (≤ [`MAX_OFFSET`]), `?count=exact`.
//! Response: `{items, pagination: {limit, offset, total_count, has_next, next_cursor}}`.
//!
//! How a list adopts it (one type each side):
//! - the handler takes `AppQuery(page): AppQuery<PageParams>` beside its own filters, lists
//!   `PageParams` in its `params(..)`, and calls `page.paging("<list name>", &state.config)?`
//!   (the server's `Config` is the [`CursorSecret`]);
//! - its `db` function orders by a unique key `(timestamp, tiebreaker)`, adds
//!   `AND ($n::timestamptz IS NULL OR (ts, id) < ($n, $m::<id type>))` (`>` for ascending
//!   lists) bound to [`Paging::after_at`] / [`Paging::after_key`], `LIMIT` [`Paging::fetch_limit`]
//!   `OFFSET` [`Paging::offset`] (written by the server's `db::paging::push_limit`: the limit a
//!   literal, so the statement keeps a generic plan), and answers the total only when [`Paging::count`] is set
//!   (through `db::paging::count_within_budget`);
//! - the handler answers [`Page::from_rows`] with a function giving each row's key.
//!
//! A cursor is `1.<base64url payload>.<base64url MAC>`: the payload is the last row's key, the MAC
//! an HMAC-SHA256 (under a key derived from `JWT_SECRET`) over the list's name and the payload, so
//! a cursor cannot be edited, forged, or carried to another list; any of that is a 422
//! `INVALID_CURSOR`. Filters are not part of the cursor: a client that changes them while paging
//! gets the rows of the new filter after the same position.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use utoipa::{IntoParams, ToSchema};

/// Where the secret that signs cursors comes from (the server's `JWT_SECRET`).
pub trait CursorSecret {
    /// The secret's bytes: the same on every replica.
    fn cursor_secret(&self) -> &[u8];
}

impl<T: CursorSecret + ?Sized> CursorSecret for std::sync::Arc<T> {
    fn cursor_secret(&self) -> &[u8] {
        (**self).cursor_secret()
    }
}

use crate::error::{ErrorCode, InputError};

/// Items per page when a request gives no `limit`.
pub const DEFAULT_LIMIT: i64 = 20;
/// The largest page: a greater `limit` is clamped to it.
pub const MAX_LIMIT: i64 = 100;
/// The deepest `offset` a list serves: past it the database would walk and drop every row
/// before the page, so deeper pages are reached by `cursor` (422 `OFFSET_TOO_LARGE`).
pub const MAX_OFFSET: i64 = 10_000;

/// `?limit=&offset=&cursor=&count=` of a list request.
#[derive(Debug, Clone, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: default 20; values above 100 are clamped to 100.
    pub limit: Option<i64>,
    /// Items to skip (for old clients): default 0, at most 10000; deeper pages by `cursor`.
    pub offset: Option<i64>,
    /// The `next_cursor` of the previous page: the page after it. Not with `offset`.
    pub cursor: Option<String>,
    /// `exact`: also count every matching item (`total_count`), within a time budget; the count
    /// is `null` when not asked for or when it would take longer.
    #[param(inline)]
    pub count: Option<CountMode>,
}

/// Whether a list counts its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CountMode {
    /// Count every match, within the budget.
    Exact,
}

/// Where a page starts: the key of the last row of the page before, in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The ordering timestamp of that row.
    pub at: DateTime<Utc>,
    /// The tiebreaker (an id, as text), unique among rows with the same `at`.
    pub key: String,
}

/// Validated pagination of one list.
#[derive(Clone)]
pub struct Paging {
    /// Items on the page (at most [`MAX_LIMIT`]).
    pub limit: i64,
    /// Items skipped (0 when paging by cursor).
    pub offset: i64,
    /// Where the page starts, when paging by cursor.
    pub after: Option<Cursor>,
    /// Whether the client asked for `total_count`.
    pub count: bool,
    list: &'static str,
    mac_key: [u8; 32],
}

impl std::fmt::Debug for Paging {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paging")
            .field("list", &self.list)
            .field("limit", &self.limit)
            .field("offset", &self.offset)
            .field("after", &self.after)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

impl PageParams {
    /// Validates the paging of the list named `list` (a name per list, so that a cursor only
    /// works on the list that made it).
    pub fn paging(self, list: &'static str, secret: &impl CursorSecret) -> Result<Paging, InputError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit < 1 {
            return Err(InputError::validation("limit", "must be at least 1"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(InputError::validation("offset", "must not be negative"));
        }
        if offset > MAX_OFFSET {
            return Err(InputError::new(
                ErrorCode::OffsetTooLarge,
                format!(
                    "`offset` is at most {MAX_OFFSET}: page deeper with `cursor`, the `next_cursor` of the page before."
                ),
            )
            .with_details(serde_json::json!({ "fields": { "offset": format!("must be at most {MAX_OFFSET}") },
                                              "max_offset": MAX_OFFSET })));
        }
        let mac_key = cursor_mac_key(secret);
        let after = match self.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => None,
            Some(_) if offset > 0 => {
                return Err(InputError::validation("cursor", "give either `cursor` or `offset`, not both"));
            }
            Some(text) => Some(decode_cursor(text, list, &mac_key)?),
        };
        Ok(Paging {
            limit: limit.min(MAX_LIMIT),
            offset,
            after,
            count: self.count == Some(CountMode::Exact),
            list,
            mac_key,
        })
    }
}

impl Paging {
    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// The timestamp of the cursor's position, if the request gave one.
    pub fn after_at(&self) -> Option<DateTime<Utc>> {
        self.after.as_ref().map(|c| c.at)
    }

    /// The tiebreaker of the cursor's position, as text (the SQL casts it to the id's type).
    pub fn after_key(&self) -> Option<&str> {
        self.after.as_ref().map(|c| c.key.as_str())
    }

    fn encode(&self, at: DateTime<Utc>, key: &str) -> String {
        let payload = format!("{}.{key}", at.timestamp_micros());
        let tag =
            cursor_mac(&self.mac_key, self.list, &payload).map(|mac| mac.finalize().into_bytes()).unwrap_or_default();
        let mac = URL_SAFE_NO_PAD.encode(&tag[..16]);
        format!("1.{}.{mac}", URL_SAFE_NO_PAD.encode(payload))
    }
}

/// The MAC key of cursors: derived from `JWT_SECRET`, so that it is secret and the same on
/// every replica; rotating the secret ends the cursors in flight (a client starts over).
fn cursor_mac_key(secret: &impl CursorSecret) -> [u8; 32] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.cursor_secret()) else {
        return [0; 32];
    };
    mac.update(b"mps list cursor v1");
    mac.finalize().into_bytes().into()
}

/// The MAC of a cursor's payload on one list (its first 16 bytes are the tag).
fn cursor_mac(key: &[u8; 32], list: &str, payload: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(list.as_bytes());
    mac.update(b"\n");
    mac.update(payload.as_bytes());
    Some(mac)
}

fn invalid_cursor() -> InputError {
    InputError::new(
        ErrorCode::InvalidCursor,
        "The cursor is not one this list gave out: start again from the first page.",
    )
    .with_details(serde_json::json!({ "fields": { "cursor": "is not a cursor of this list" } }))
}

fn decode_cursor(text: &str, list: &str, key: &[u8; 32]) -> Result<Cursor, InputError> {
    let mut parts = text.split('.');
    let (Some("1"), Some(payload), Some(mac), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid_cursor());
    };
    let payload = URL_SAFE_NO_PAD.decode(payload).ok().and_then(|p| String::from_utf8(p).ok());
    let mac = URL_SAFE_NO_PAD.decode(mac).ok();
    let (Some(payload), Some(mac)) = (payload, mac) else { return Err(invalid_cursor()) };
    if mac.len() != 16 {
        return Err(invalid_cursor());
    }
    let check = cursor_mac(key, list, &payload).ok_or_else(invalid_cursor)?;
    // Constant-time comparison of the truncated tag.
    check.verify_truncated_left(&mac).map_err(|_| invalid_cursor())?;
    let (micros, key) = payload.split_once('.').ok_or_else(invalid_cursor)?;
    let at = micros.parse::<i64>().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(invalid_cursor)?;
    Ok(Cursor { at, key: key.to_owned() })
}

/// Where a page sits in its list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    /// The most items a page holds.
    pub limit: i64,
    /// The `offset` asked for (0 when paging by cursor).
    pub offset: i64,
    /// Every matching item, only with `?count=exact` and when counting fits its time budget;
    /// otherwise `null`.
    pub total_count: Option<i64>,
    /// Whether another page follows.
    pub has_next: bool,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    /// The page's items, in the list's order.
    pub items: Vec<T>,
    /// Where the page sits in the list.
    pub pagination: Pagination,
}

impl<T> Page<T> {
    /// A page from up to [`Paging::fetch_limit`] rows in the list's order; `key` gives a row's
    /// position (its ordering timestamp and tiebreaker), from which the next cursor is made.
    pub fn from_rows<F>(mut rows: Vec<T>, paging: &Paging, total_count: Option<i64>, key: F) -> Page<T>
    where
        F: Fn(&T) -> (DateTime<Utc>, String),
    {
        let limit = usize::try_from(paging.limit).unwrap_or(usize::MAX);
        let has_next = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if has_next {
            rows.last().map(|row| {
                let (at, id) = key(row);
                paging.encode(at, &id)
            })
        } else {
            None
        };
        Page {
            items: rows,
            pagination: Pagination { limit: paging.limit, offset: paging.offset, total_count, has_next, next_cursor },
        }
    }
}
