//! `GET /items/{key}?history=N`: the past values of a key (seed 002's `get KEY -rev N`).
//!
//! The coordinator's merged set carries them (`VersionSet::past_values`: values the key held
//! before, superseded, with their write times); this module parses `history`, shapes the
//! entries `{"value": V, "written_at": RFC 3339}` newest first, and formats the times.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ringkv_versions::{Value, VersionSet};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::payload;

/// Most past values one read may ask for (the setting caps what is kept anyway).
pub const MAX_HISTORY_PARAM: usize = 1000;

/// `?history=N`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParam {
    /// Also answer up to N values the key held before, newest first, as `history` (on 200, 300,
    /// and on 404 for a deleted key). How many each key keeps is `versioning.history`.
    #[param(value_type = Option<u32>, nullable = false, minimum = 0, maximum = 1000)]
    pub history: Option<String>,
}

impl HistoryParam {
    /// The validated `history` count; `None` when not asked.
    pub fn parse(&self) -> Result<Option<usize>, ApiError> {
        let Some(raw) = &self.history else {
            return Ok(None);
        };
        match raw.trim().parse::<usize>() {
            Ok(n) if n <= MAX_HISTORY_PARAM => Ok(Some(n)),
            _ => Err(ApiError::bad_request(format!(
                "`history` must be an integer within 0..={MAX_HISTORY_PARAM}, got `{raw}`"
            ))),
        }
    }
}

/// One past value: `{"value": V, "written_at": "2026-12-01T12:00:00.123Z"}`.
#[derive(Serialize, ToSchema)]
pub struct PastValue {
    /// Any JSON value, as written.
    #[schema(value_type = serde_json::Value)]
    value: Box<RawValue>,
    /// When the value was written (RFC 3339, UTC, ms).
    #[schema(example = "2026-12-01T12:00:00.123Z")]
    written_at: String,
}

/// `{"value": V, "history": [...]}`.
#[derive(Serialize)]
pub struct ValueWithHistory {
    pub value: Box<RawValue>,
    pub history: Vec<PastValue>,
}

/// `{"values": [...], "history": [...]}`.
#[derive(Serialize)]
pub struct SiblingsWithHistory {
    pub values: Vec<Box<RawValue>>,
    pub history: Vec<PastValue>,
}

/// `{"detail": "...", "history": [...]}`: a deleted key's past values.
#[derive(Serialize)]
pub struct NotFoundWithHistory {
    pub detail: String,
    pub history: Vec<PastValue>,
}

/// Up to `n` past values of `set` at `now_ms`, newest first.
pub fn past(set: &VersionSet, n: usize, now_ms: u64) -> Result<Vec<PastValue>, ApiError> {
    set.past_values(now_ms)
        .take(n)
        .map(|v| {
            let Value::Data(bytes) = &v.value else {
                unreachable!("past_values yields data only")
            };
            let p = payload::decode(bytes).map_err(|e| {
                tracing::error!("undecodable past value: {e}");
                ApiError::internal("a stored past value could not be decoded")
            })?;
            Ok(PastValue {
                value: p.json.to_owned(),
                written_at: rfc3339_ms(v.written_at_ms),
            })
        })
        .collect()
}

/// The 404 of a read asking for history.
pub fn not_found(detail: String, history: Vec<PastValue>) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(NotFoundWithHistory { detail, history }),
    )
        .into_response()
}

/// `ms` since the Unix epoch as RFC 3339 in UTC with milliseconds.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_ms() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_001), "2000-02-29T00:00:00.001Z");
        assert_eq!(rfc3339_ms(1_764_593_999_999), "2025-12-01T12:59:59.999Z");
    }

    #[test]
    fn history_param_is_bounded() {
        let p = |s: &str| HistoryParam {
            history: Some(s.into()),
        };
        assert_eq!(p("3").parse().unwrap(), Some(3));
        assert_eq!(p("0").parse().unwrap(), Some(0));
        assert!(p("-1").parse().is_err());
        assert!(p("1001").parse().is_err());
        assert_eq!(HistoryParam::default().parse().unwrap(), None);
    }
}
