//! Calendar periods in `BUSINESS_TIMEZONE`: local days and months as half-open UTC ranges, for
//! settlements, the daily summary and "today" in statistics.

use chrono::{DateTime, Datelike as _, Months, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::error::{ApiError, ApiResult};
use crate::http::filters::local_midnight;

/// A half-open range of instants `[start, end)`.
pub type Period = (DateTime<Utc>, DateTime<Utc>);

/// The local calendar date of `now` in `zone`.
pub fn local_date(now: DateTime<Utc>, zone: Tz) -> NaiveDate {
    now.with_timezone(&zone).date_naive()
}

/// One local day: from its midnight to the next (23, 24 or 25 hours long).
pub fn day_period(date: NaiveDate, zone: Tz) -> ApiResult<Period> {
    let next = date.succ_opt().ok_or_else(|| ApiError::validation("date", "is out of range"))?;
    Ok((local_midnight(date, zone)?, local_midnight(next, zone)?))
}

/// One local calendar month, given any date in it.
pub fn month_period(date: NaiveDate, zone: Tz) -> ApiResult<Period> {
    let first = date.with_day(1).ok_or_else(|| ApiError::validation("month", "is out of range"))?;
    let next =
        first.checked_add_months(Months::new(1)).ok_or_else(|| ApiError::validation("month", "is out of range"))?;
    Ok((local_midnight(first, zone)?, local_midnight(next, zone)?))
}

/// `YYYY-MM-DD`.
pub fn parse_date(field: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::validation(field, "must be a date such as 2026-01-31"))
}

/// `YYYY-MM`, as the first day of the month.
pub fn parse_month(field: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d")
        .map_err(|_| ApiError::validation(field, "must be a month such as 2026-01"))
}

/// An RFC 3339 instant.
pub fn parse_instant(field: &str, text: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::validation(field, "must be an RFC 3339 time such as 2026-01-31T16:00:00Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(period: Period) -> i64 {
        (period.1 - period.0).num_hours()
    }

    #[test]
    fn days_last_23_24_or_25_hours_around_clock_changes() {
        let berlin = chrono_tz::Europe::Berlin;
        let date = |s| parse_date("date", s).unwrap();
        assert_eq!(hours(day_period(date("2026-03-29"), berlin).unwrap()), 23);
        assert_eq!(hours(day_period(date("2026-10-25"), berlin).unwrap()), 25);
        assert_eq!(hours(day_period(date("2026-06-01"), berlin).unwrap()), 24);
    }

    #[test]
    fn a_month_in_shanghai_starts_at_local_midnight() {
        let (start, end) = month_period(parse_month("month", "2026-02").unwrap(), chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-31T16:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-02-28T16:00:00+00:00");
    }

    #[test]
    fn malformed_dates_and_months_are_refused() {
        assert!(parse_date("date", "2026-02-30").is_err());
        assert!(parse_month("month", "2026-13").is_err());
        assert!(parse_month("month", "2026-01-01").is_err());
    }
}
