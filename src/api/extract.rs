//! Request parsing and validation: keys, quorum overrides, write bodies, conditions, cursors.
//!
//! Malformed input (not JSON, bad query parameter, bad header) is 400; well-formed JSON of the
//! wrong shape is 422; a value over `max_value_bytes` is 413. Validation happens before the
//! coordinator sees anything, so a rejected request stores nothing.

use axum::extract::{FromRequestParts, Path};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;
use crate::coordinator::Condition;

pub const MAX_KEY_BYTES: usize = 1024;
/// The longest TTL accepted: 100 years, in seconds.
pub const MAX_TTL_SECONDS: u64 = 100 * 365 * 24 * 3600;
pub const DEFAULT_LIST_LIMIT: usize = 100;
pub const MAX_LIST_LIMIT: usize = 1000;

/// A validated key from the path (percent-decoded, 1..=1024 bytes of UTF-8).
pub struct Key(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Key {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Key, ApiError> {
        let Path(key) = Path::<String>::from_request_parts(parts, state).await?;
        validate_key(&key)?;
        Ok(Key(key))
    }
}

pub fn validate_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request("the key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_request(format!(
            "the key is {} bytes long; the limit is {MAX_KEY_BYTES}",
            key.len()
        )));
    }
    Ok(())
}

/// The `{key}` path parameter, for the OpenAPI document ([`Key`] extracts and checks it).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct KeyPath {
    /// Any UTF-8 string of 1..=1024 bytes (the limit counts bytes), percent-encoded.
    #[param(min_length = 1, max_length = 1024)]
    key: String,
}

/// The `X-Context` header, for the OpenAPI document ([`context_header`] checks it).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ContextHeader {
    /// The `X-Context` of a previous read or write: only the versions it covers are superseded
    /// (a context this store did not issue is 400).
    #[param(
        rename = "X-Context",
        nullable = false,
        pattern = r"^[A-Za-z0-9_-]*$",
        max_length = 65536
    )]
    x_context: Option<String>,
}

/// `If-Match: *` / `If-None-Match: *`, for the OpenAPI document ([`condition`] checks them).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct ConditionHeaders {
    /// `*`: update only (412 when the key has no live value). Only `*` is supported; an
    /// empty value is no condition.
    #[param(rename = "If-Match", nullable = false, pattern = r"^\*?$")]
    if_match: Option<String>,
    /// `*`: create only (412 when the key has a live value). Only `*` is supported; with
    /// If-Match too the request can never succeed (412).
    #[param(rename = "If-None-Match", nullable = false, pattern = r"^\*?$")]
    if_none_match: Option<String>,
}

/// `?r=` and `?w=`: per-request quorum overrides, each within 1..=n.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuorumParams {
    /// Replies a read waits for, 1..=n (this document's `maximum` is the node's current n);
    /// default from the cluster config.
    #[param(value_type = Option<u32>, nullable = false, minimum = 1)]
    pub r: Option<String>,
    /// Acknowledgements a write waits for, 1..=n (this document's `maximum` is the node's
    /// current n); default from the cluster config.
    #[param(value_type = Option<u32>, nullable = false, minimum = 1)]
    pub w: Option<String>,
    /// Writes only: `true` lets fallbacks holding hints stand in for replicas that are down or
    /// slow (sloppy quorum, Dynamo); `false` counts only the key's own replicas toward W
    /// (strict, like Riak's `pw`). Default from `quorum.sloppy`.
    #[param(value_type = Option<bool>)]
    pub sloppy: Option<String>,
}

impl QuorumParams {
    /// The validated `(r, w)` overrides.
    pub fn parse(&self, n: usize) -> Result<(Option<usize>, Option<usize>), ApiError> {
        let one = |name: &str, raw: &Option<String>| -> Result<Option<usize>, ApiError> {
            let Some(raw) = raw else { return Ok(None) };
            match raw.trim().parse::<usize>() {
                Ok(v) if (1..=n).contains(&v) => Ok(Some(v)),
                _ => Err(ApiError::bad_request(format!(
                    "`{name}` must be an integer within 1..={n} (the replication factor n), got `{raw}`"
                ))),
            }
        };
        Ok((one("r", &self.r)?, one("w", &self.w)?))
    }

    /// The validated `sloppy` override.
    pub fn sloppy(&self) -> Result<Option<bool>, ApiError> {
        match self.sloppy.as_deref().map(str::trim) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(ApiError::bad_request(format!(
                "`sloppy` must be true or false, got `{other}`"
            ))),
        }
    }
}

/// The parsed body of a PUT or append.
#[derive(Debug)]
pub struct WriteBody {
    /// Compact JSON text of `value`.
    pub value: String,
    pub ttl_ms: Option<u64>,
    pub context: Option<String>,
}

/// Parses `{"value": V, "ttl": seconds?, "context": "..."?}`.
pub fn write_body(bytes: &[u8], max_value_bytes: usize) -> Result<WriteBody, ApiError> {
    let (value, ttl, context) = match fast_body(bytes) {
        Some(fields) => fields,
        None => parsed_body(bytes)?,
    };
    let ttl_ms = match ttl {
        None | Some(serde_json::Value::Null) => None,
        Some(t) => match whole_number(&t) {
            Some(s) if (1..=MAX_TTL_SECONDS).contains(&s) => Some(s * 1000),
            _ => {
                return Err(ApiError::unprocessable(format!(
                    "`ttl` must be a positive integer number of seconds (at most {MAX_TTL_SECONDS}), got {t}"
                )));
            }
        },
    };
    let context = match context {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "`context` must be the string from an X-Context header, got {other}"
            )));
        }
    };
    if value.len() > max_value_bytes {
        return Err(ApiError::too_large(format!(
            "the value is {} bytes of JSON; the limit is {max_value_bytes}",
            value.len()
        )));
    }
    Ok(WriteBody {
        value,
        ttl_ms,
        context,
    })
}

/// A JSON number with no fractional part as `u64`: `40428` and `40428.0` alike, since JSON
/// Schema's `integer` (the documented type of `ttl`) admits both.
fn whole_number(v: &serde_json::Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    // Exact for every whole f64 below 2^64; larger or fractional values are not whole u64s.
    (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
}

/// Bodies must be sent as JSON (`application/json` or a `+json` type): 415 otherwise.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json {
        Ok(())
    } else {
        let sent = if ct.is_empty() {
            "none".to_string()
        } else {
            format!("`{ct}`")
        };
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send the body as JSON with `Content-Type: application/json` (got {sent})"),
        ))
    }
}

/// The `X-Context` header, checked to be a context this store could have issued.
pub fn context_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("x-context") else {
        return Ok(None);
    };
    let text = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("X-Context must be ASCII"))?
        .trim();
    if text.is_empty() {
        return Ok(None);
    }
    check_context(text)?;
    Ok(Some(text.to_string()))
}

/// Longest accepted `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The `Idempotency-Key` header, for the OpenAPI document ([`idempotency_key`] checks it).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyHeader {
    /// A token naming this request (e.g. a UUID). Repeated with the same token within
    /// `versioning.idempotency_window_ms`, through any node, the request is applied once and
    /// answers the first attempt's status and body; the same token with a different request
    /// answers 422. 1 to 255 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        nullable = false,
        pattern = r"^[!-~]{1,255}$",
        min_length = 1,
        max_length = 255,
        example = "7f9c2ba4-e88f-4d1a-9f3b-2a1c6d5e8b01"
    )]
    idempotency_key: Option<String>,
}

/// The validated `Idempotency-Key` (1..=255 visible ASCII characters), if sent.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = raw.to_str().unwrap_or("").trim();
    let visible = text.bytes().all(|b| b.is_ascii_graphic());
    if text.is_empty() || text.len() > MAX_IDEMPOTENCY_KEY || !visible {
        return Err(ApiError::bad_request(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    Ok(Some(text.to_string()))
}

pub fn check_context(text: &str) -> Result<(), ApiError> {
    ringkv_versions::Context::from_header(text)
        .map(|_| ())
        .map_err(|e| {
            ApiError::bad_request(format!("the context is not one this store issued: {e}"))
        })
}

/// The body's fields: the value's compact text, `ttl` and `context` as sent.
type BodyFields = (String, Option<serde_json::Value>, Option<serde_json::Value>);

/// A well-formed body in one pass, borrowing the value's text.
#[derive(Deserialize)]
struct RawBody<'a> {
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
    #[serde(default)]
    ttl: Option<serde_json::Value>,
    #[serde(default)]
    context: Option<serde_json::Value>,
}

/// Only the value of a body, borrowing its text.
#[derive(Deserialize)]
struct ValueOnly<'a> {
    #[serde(borrow)]
    value: &'a serde_json::value::RawValue,
}

/// The fields of an object body with one `value` in one pass; `None` for anything else
/// (not JSON, not an object, no `value`, a field given twice), which [`parsed_body`] then
/// judges and explains.
fn fast_body(bytes: &[u8]) -> Option<BodyFields> {
    // A struct also deserialises from a JSON array; only an object is a body.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    let raw = serde_json::from_slice::<RawBody<'_>>(bytes).ok()?;
    // Keep the value's own text (minus insignificant whitespace), so numbers beyond i64/f64
    // come back digit for digit; re-serialising a parsed `Value` would round them.
    Some((minify(raw.value.get()), raw.ttl, raw.context))
}

/// The fields of any body, through a parsed `Value`, with the error a malformed one deserves.
fn parsed_body(bytes: &[u8]) -> Result<BodyFields, ApiError> {
    let parsed: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON ({e}); send {{\"value\": ...}}"
        ))
    })?;
    let serde_json::Value::Object(mut obj) = parsed else {
        return Err(ApiError::unprocessable(
            "the body must be a JSON object like {\"value\": ...}",
        ));
    };
    let Some(value) = obj.remove("value") else {
        return Err(ApiError::unprocessable(
            "the body is missing the field `value`",
        ));
    };
    // The value's own text where it can be had (see `fast_body`).
    let value = match serde_json::from_slice::<ValueOnly<'_>>(bytes) {
        Ok(raw) => minify(raw.value.get()),
        Err(_) => serde_json::to_string(&value).map_err(|e| ApiError::internal(e.to_string()))?,
    };
    Ok((value, obj.remove("ttl"), obj.remove("context")))
}

/// Drops the whitespace outside strings from valid JSON text; everything else is kept as
/// written (digits, escapes, key order).
pub fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// `If-Match: *` / `If-None-Match: *`.
pub fn condition(headers: &HeaderMap) -> Result<Option<Condition>, ApiError> {
    let get = |name: &str| -> Result<Option<String>, ApiError> {
        match headers.get(name) {
            None => Ok(None),
            Some(v) => match v.to_str().map(str::trim) {
                Ok("*") => Ok(Some("*".into())),
                // An empty value names no condition (like an empty X-Context names no context).
                Ok("") => Ok(None),
                _ => Err(ApiError::bad_request(format!("{name} supports only `*`"))),
            },
        }
    };
    match (get("if-match")?, get("if-none-match")?) {
        // Well-formed but never satisfiable (the key would have to exist and not exist):
        // RFC 9110 evaluates both and fails the request with 412, not 400.
        (Some(_), Some(_)) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "If-Match: * and If-None-Match: * together can never both hold; send one of them",
        )),
        (Some(_), None) => Ok(Some(Condition::IfMatchAny)),
        (None, Some(_)) => Ok(Some(Condition::IfNoneMatchAny)),
        (None, None) => Ok(None),
    }
}

/// `GET /items` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only keys starting with this prefix.
    #[param(nullable = false)]
    pub prefix: Option<String>,
    /// Items per page, 1..=1000 (default 100).
    #[param(value_type = Option<u32>, nullable = false, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (base64url of the last key it held).
    #[param(
        nullable = false,
        pattern = r"^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?$"
    )]
    pub cursor: Option<String>,
}

impl ListParams {
    /// `(prefix, after, limit)`.
    pub fn parse(&self) -> Result<(String, Option<String>, usize), ApiError> {
        let limit = match &self.limit {
            None => DEFAULT_LIST_LIMIT,
            Some(raw) => match raw.trim().parse::<usize>() {
                Ok(l) if (1..=MAX_LIST_LIMIT).contains(&l) => l,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "`limit` must be an integer within 1..={MAX_LIST_LIMIT}, got `{raw}`"
                    )));
                }
            },
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request("`cursor` is not a next_cursor this API returned")
            })?),
        };
        Ok((self.prefix.clone().unwrap_or_default(), after, limit))
    }
}

/// The opaque cursor: the last key of the page, base64url.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key.as_bytes())
}

/// Decodes any base64url text of a decodable length (what the documented pattern admits):
/// non-zero trailing bits are tolerated, and bytes that are not UTF-8 (no cursor we issue has
/// them) are read lossily, so a hand-made cursor still means "keys after this one".
fn decode_cursor(cursor: &str) -> Option<String> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone),
    );
    let bytes = LENIENT.decode(cursor).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_classified() {
        let b = write_body(br#"{"value": 0, "ttl": 5}"#, 100).unwrap();
        assert_eq!((b.value.as_str(), b.ttl_ms), ("0", Some(5000)));
        assert_eq!(
            write_body(br#"{"value": null}"#, 100).unwrap().value,
            "null"
        );
        let status = |body: &[u8]| write_body(body, 10).unwrap_err().status;
        assert_eq!(status(b"{"), StatusCode::BAD_REQUEST);
        assert_eq!(status(b""), StatusCode::BAD_REQUEST);
        assert_eq!(status(b"[1]"), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status(br#"{"val": 1}"#), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            write_body(br#"{"value": 0, "ttl": 40428.0}"#, 100)
                .unwrap()
                .ttl_ms,
            Some(40_428_000),
            "JSON Schema's integer admits 40428.0"
        );
        for ttl in ["0", "-1", "1.5", "\"10\"", "true", "1e300", "0.0"] {
            let body = format!(r#"{{"value": 1, "ttl": {ttl}}}"#);
            assert_eq!(
                status(body.as_bytes()),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{ttl}"
            );
        }
        assert_eq!(
            status(br#"{"value": "01234567890"}"#),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status(br#"{"value": 1, "context": 5}"#),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn values_keep_their_digits_and_lose_only_whitespace() {
        let b = write_body(br#"{"value": 123456789012345678901234567890}"#, 100).unwrap();
        assert_eq!(b.value, "123456789012345678901234567890");
        assert_eq!(write_body(br#"{"value": 1.0}"#, 100).unwrap().value, "1.0");
        let nested = br#"{ "value" : { "a b" : [ 1 , "x \" y\t" ] } , "ttl": 3 }"#;
        assert_eq!(
            write_body(nested, 100).unwrap().value,
            r#"{"a b":[1,"x \" y\t"]}"#
        );
        assert_eq!(minify(" [ \"\\\\\" , 2 ] "), r#"["\\",2]"#);
    }

    #[test]
    fn bodies_must_be_json() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, ct.parse().unwrap());
            require_json(&h)
        };
        assert!(with("application/json").is_ok());
        assert!(with("Application/JSON; charset=utf-8").is_ok());
        assert!(with("application/merge-patch+json").is_ok());
        assert_eq!(
            with("text/plain").unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert!(require_json(&HeaderMap::new()).is_err());
    }

    #[test]
    fn quorum_params_are_bounded_by_n() {
        let p = |r: &str| {
            QuorumParams {
                r: Some(r.into()),
                w: None,
                sloppy: None,
            }
            .parse(3)
        };
        assert_eq!(p("2").unwrap(), (Some(2), None));
        for bad in ["0", "4", "x", "-1", ""] {
            assert_eq!(p(bad).unwrap_err().status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn keys_and_cursors() {
        assert!(validate_key("this is key").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(1025)).is_err());
        assert!(validate_key(&"é".repeat(512)).is_ok());
        let c = encode_cursor("ключ 1");
        assert_eq!(decode_cursor(&c).as_deref(), Some("ключ 1"));
        let bad = ListParams {
            cursor: Some("!!".into()),
            ..Default::default()
        };
        assert!(bad.parse().is_err());
        let limit = ListParams {
            limit: Some("0".into()),
            ..Default::default()
        };
        assert!(limit.parse().is_err());
    }
}
