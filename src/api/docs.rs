//! Documentation-only schemas: request bodies the handlers parse by hand (to classify errors
//! as 400/422 themselves) described for the OpenAPI document, and the one pattern that is
//! both documented and enforced (`peer_url`).
//!
//! Invariant: every constraint stated here is one the server enforces, and nothing the
//! server rejects for its shape is allowed here. Where a rule needs the cluster's state
//! (`r <= n` in a config patch, a peer that must answer), the handler's 4xx says so.

use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;
use utoipa::ToSchema;

use super::ApiError;

/// A peer URL: `[http://]host[:port][/]`, the host a DNS name (its last label starting with
/// a letter, as WHATWG URL parsing reads a final numeric label as IPv4), a dotted IPv4
/// address or a bracketed IPv6 address; the port 0..=65535 without leading zeros.
pub const PEER_URL_PATTERN: &str = concat!(
    r"^(?:http://)?(?:",
    // DNS name
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    // IPv4
    r"|(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])",
    // IPv6 (no zone, no embedded IPv4)
    r"|\[(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}",
    r"|(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}",
    r"|:(?:(?::[0-9A-Fa-f]{1,4}){1,7}|:))\]",
    r")(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?/?$",
);

/// Rejects a `peer_url` outside [`PEER_URL_PATTERN`] with 422.
pub fn check_peer_url(raw: &str) -> Result<(), ApiError> {
    static RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(PEER_URL_PATTERN).ok());
    match &*RE {
        Some(re) if re.is_match(raw) => Ok(()),
        _ => Err(ApiError::unprocessable(format!(
            "`peer_url` must be http://host:port (a DNS name, IPv4 or [IPv6] address), got {raw:?}"
        ))),
    }
}

/// `POST /peers` body.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JoinDoc {
    /// The URL of any node of the cluster to join, e.g. `http://127.0.0.1:8888`
    /// (`127.0.0.1:8888` works too; the port defaults to 80). Its `pattern`,
    /// [`PEER_URL_PATTERN`], is filled in by `openapi::document`.
    peer_url: String,
}

/// `quorum` in a config patch; each within 1..=n once applied.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct QuorumPatch {
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    n: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    r: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    w: Option<u64>,
}

/// `gossip` in a config patch; `failure_timeout_ms` must stay at least `interval_ms`.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct GossipPatch {
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    interval_ms: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    failure_timeout_ms: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    suspect_timeout_ms: Option<u64>,
    /// Peers contacted per gossip round.
    #[schema(nullable = false, minimum = 1, maximum = 64)]
    fanout: Option<u64>,
}

/// `anti_entropy` in a config patch.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct AntiEntropyPatch {
    #[schema(nullable = false, minimum = 1, maximum = 65536)]
    buckets: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    interval_ms: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    repair_rate_keys_per_sec: Option<u64>,
}

/// `versioning` in a config patch.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VersioningPatch {
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    max_clock_entries: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    max_siblings: Option<u64>,
    /// Past values kept per key (0 keeps none).
    #[schema(nullable = false, minimum = 0, maximum = 1000)]
    history: Option<u64>,
    /// How long an `Idempotency-Key` is remembered.
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    idempotency_window_ms: Option<u64>,
}

/// `hinted_handoff` in a config patch.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct HintedHandoffPatch {
    #[schema(nullable = false)]
    enabled: Option<bool>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    max_hint_age_ms: Option<u64>,
    #[schema(nullable = false, minimum = 1, maximum = 9_223_372_036_854_775_807_u64)]
    replay_interval_ms: Option<u64>,
}

/// A partial update of the hot sections, e.g. `{"quorum": {"w": 1}}`. The result is validated
/// as a whole (`r` and `w` within 1..=n): 422 and nothing changed otherwise.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ConfigPatchDoc {
    #[schema(nullable = false)]
    quorum: Option<QuorumPatch>,
    #[schema(nullable = false)]
    gossip: Option<GossipPatch>,
    #[schema(nullable = false)]
    anti_entropy: Option<AntiEntropyPatch>,
    #[schema(nullable = false)]
    versioning: Option<VersioningPatch>,
    #[schema(nullable = false)]
    hinted_handoff: Option<HintedHandoffPatch>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_url_pattern_admits_exactly_what_normalises() {
        for good in [
            "127.0.0.1:7777",
            "http://127.0.0.1:7777",
            "http://node-1.example:80/",
            "localhost",
            "http://[::1]:9",
            "[2001:db8::1]:65535",
            "http://0x1.a:0",
        ] {
            assert!(check_peer_url(good).is_ok(), "{good}");
            assert!(crate::cluster::normalize_url(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "&À í",
            "K ",
            "ftp://x:1",
            "http://x:1/path",
            "http://x:99999",
            "http://x:080",
            "1.2.3.999",
            "a_b",
            "http://[:]:1",
            "HTTP://x:1",
            "x.",
        ] {
            assert!(check_peer_url(bad).is_err(), "{bad}");
        }
    }
}
