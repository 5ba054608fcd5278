//! List pagination per SPEC §3: `limit` (default 20, clamped to 100) and `offset`, answered as
//! `{items, pagination: {limit, offset, total_count, has_next}}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// `?limit=&offset=` of a list request.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page: default 20; values above 100 are clamped to 100.
    pub limit: Option<i64>,
    /// Items to skip: default 0.
    pub offset: Option<i64>,
}

/// Validated pagination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl PageParams {
    pub fn paging(self) -> ApiResult<Paging> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit < 1 {
            return Err(ApiError::validation("limit", "must be at least 1"));
        }
        let offset = self.offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::validation("offset", "must not be negative"));
        }
        Ok(Paging { limit: limit.min(MAX_LIMIT), offset })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Pagination {
    pub limit: i64,
    pub offset: i64,
    pub total_count: i64,
    pub has_next: bool,
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub pagination: Pagination,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, paging: Paging, total_count: i64) -> Page<T> {
        let has_next = paging.offset + i64::try_from(items.len()).unwrap_or(i64::MAX) < total_count;
        Page { items, pagination: Pagination { limit: paging.limit, offset: paging.offset, total_count, has_next } }
    }
}
