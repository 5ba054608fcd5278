//! Query filters shared by list endpoints: date bounds in `BUSINESS_TIMEZONE`.

use chrono::{DateTime, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

use crate::error::{ApiError, ApiResult};

/// Parses a date filter: RFC 3339, or `YYYY-MM-DD` meaning local midnight in `zone`.
pub fn parse_date_bound(field: &str, value: Option<&str>, zone: Tz) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    if let Ok(instant) = DateTime::parse_from_rfc3339(value) {
        return Ok(Some(instant.with_timezone(&Utc)));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| ApiError::validation(field, "must be RFC 3339 (2026-01-31T00:00:00Z) or YYYY-MM-DD"))?;
    Ok(Some(local_midnight(date, zone)?))
}

/// The instant a local calendar day starts in `zone` (the first instant after a gap on
/// clock-change days).
pub fn local_midnight(date: NaiveDate, zone: Tz) -> ApiResult<DateTime<Utc>> {
    let midnight = date.and_hms_opt(0, 0, 0).ok_or_else(|| ApiError::validation("date", "is not a valid date"))?;
    let local = zone
        .from_local_datetime(&midnight)
        .earliest()
        .or_else(|| (1..=3).find_map(|h| zone.from_local_datetime(&(midnight + chrono::Duration::hours(h))).earliest()))
        .ok_or_else(|| ApiError::validation("date", "does not exist in the business time zone"))?;
    Ok(local.with_timezone(&Utc))
}
