//! Hot-reloadable settings: the config sections that `PUT /config` may change at run time.
//!
//! `Settings` carries a `version`; every node keeps the highest-versioned settings it has seen
//! (ties broken by the id of the node that made the change, so every node converges on the same
//! value). A change is validated as a whole before it replaces anything: an invalid `PUT /config`
//! leaves the settings untouched.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Replication factor and default quorums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Quorum {
    /// Replicas per key.
    pub n: usize,
    /// Replies a read waits for.
    pub r: usize,
    /// Acknowledgements a write waits for.
    pub w: usize,
    /// Sloppy quorum: when replicas of a key are down or slow, the next healthy members
    /// clockwise take the write as fallbacks holding hints, and their acks count toward W
    /// (Dynamo). False: only the key's own replicas count (strict, like Riak's `pw`); hints
    /// are still kept. A request overrides it with `?sloppy=`. Needs hinted handoff enabled.
    pub sloppy: bool,
}

impl Default for Quorum {
    fn default() -> Self {
        Quorum {
            n: 3,
            r: 2,
            w: 2,
            sloppy: true,
        }
    }
}

/// Membership gossip and failure detection. Every `interval_ms` a node bumps its heartbeat and
/// exchanges views with `fanout` random peers; a member whose heartbeat does not advance for
/// `failure_timeout_ms` is suspect, and dead after `suspect_timeout_ms` more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Gossip {
    #[schema(minimum = 1)]
    pub interval_ms: u64,
    /// How long a member may go without renewing its heartbeat before it is suspected (at
    /// least `interval_ms`).
    #[schema(minimum = 1)]
    pub failure_timeout_ms: u64,
    /// How long a suspect stays suspect, with no newer heartbeat, before it is declared dead.
    #[schema(minimum = 1)]
    pub suspect_timeout_ms: u64,
    /// Peers contacted per round.
    #[schema(minimum = 1, maximum = 64)]
    pub fanout: usize,
}

impl Default for Gossip {
    fn default() -> Self {
        Gossip {
            interval_ms: 1000,
            failure_timeout_ms: 5000,
            suspect_timeout_ms: 2000,
            fanout: 3,
        }
    }
}

impl Gossip {
    /// The protocol's timing knobs. Members are never forgotten by time: placement is explicit
    /// (a dead member stays in the ring until removed), and removals are final.
    pub fn protocol(&self) -> ringkv_gossip::Config {
        use std::time::Duration;
        ringkv_gossip::Config {
            interval: Duration::from_millis(self.interval_ms),
            fanout: self.fanout,
            failure_timeout: Duration::from_millis(self.failure_timeout_ms),
            suspect_timeout: Duration::from_millis(self.suspect_timeout_ms),
            forget_after: Duration::from_secs(10 * 365 * 86_400),
            phi_threshold: None,
            final_left: true,
        }
    }
}

/// Merkle-tree repair between replicas (`src/anti_entropy/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AntiEntropy {
    /// Leaves of the tree of each range (1..=65536, the fixed cells the digests are kept at;
    /// a change takes effect at the next exchange, with no rebuild).
    #[schema(minimum = 1, maximum = 65536)]
    pub buckets: usize,
    /// Time between two exchange rounds (±10% jitter).
    pub interval_ms: u64,
    /// Keys a node repairs per second at most (both directions counted).
    pub repair_rate_keys_per_sec: u64,
}

impl Default for AntiEntropy {
    fn default() -> Self {
        AntiEntropy {
            buckets: 1024,
            interval_ms: 60_000,
            repair_rate_keys_per_sec: 20_000,
        }
    }
}

/// Caps applied to every stored version set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Versioning {
    pub max_clock_entries: usize,
    pub max_siblings: usize,
    /// Past values kept per key (`GET /items/{key}?history=N`); 0 keeps none. Each kept value
    /// costs its payload (JSON + 9 bytes) plus 37 bytes (dot, time, flags) in the key's stored
    /// set, and is rewritten and sent to the replicas with every write of the key. The default
    /// 3 keeps a 100-byte value's set at 603 bytes instead of 163 (3.7x per write); see the
    /// README and `replica::tests::history_costs_its_payload_plus_its_dot_per_kept_value`.
    /// A set travels whole in one internal request (limit 64 x `max_value_bytes` + 64 MiB):
    /// with values near `max_value_bytes`, keep `max_siblings` + `history` under 64.
    #[schema(maximum = 1000)]
    pub history: usize,
    /// How long an `Idempotency-Key` is remembered: a repeat within it is answered from the
    /// first attempt's record, and the record is collected after it (on the key's next write).
    #[schema(minimum = 1)]
    pub idempotency_window_ms: u64,
}

/// Most history a key may keep (each value is rewritten with every write of the key).
pub const MAX_HISTORY: usize = 1000;
/// Most idempotency records one key keeps within the window (the newest).
pub const MAX_RECEIPTS_PER_KEY: usize = 64;

impl Default for Versioning {
    fn default() -> Self {
        Versioning {
            max_clock_entries: 20,
            max_siblings: 32,
            history: 3,
            idempotency_window_ms: 300_000,
        }
    }
}

impl Versioning {
    /// What a stored set keeps, now (receipts older than the window are dropped).
    pub fn limits(&self) -> ringkv_versions::Limits {
        ringkv_versions::Limits {
            max_clock_entries: self.max_clock_entries,
            max_siblings: self.max_siblings,
            history: self.history,
            receipts_since_ms: crate::replica::now_ms().saturating_sub(self.idempotency_window_ms),
            max_receipts: MAX_RECEIPTS_PER_KEY,
        }
    }
}

/// Hinted handoff: writes a replica missed are kept as hints and replayed to it once it is
/// back (see `handoff/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HintedHandoff {
    /// Keep and replay hints (and use fallbacks for sloppy quorum).
    pub enabled: bool,
    /// Hints older than this are dropped instead of replayed (anti-entropy repairs the rest).
    #[schema(minimum = 1)]
    pub max_hint_age_ms: u64,
    /// How often held hints are replayed to replicas that are alive (also at once when gossip
    /// shows one come back).
    #[schema(minimum = 1)]
    pub replay_interval_ms: u64,
    /// Most bytes of hints kept for one replica; a hint past it is refused and counted.
    #[schema(minimum = 1)]
    pub max_bytes_per_target: u64,
    /// Most bytes of hints kept in all; a hint past it is refused and counted.
    #[schema(minimum = 1)]
    pub max_total_bytes: u64,
    /// Keys replayed per second at most.
    #[schema(minimum = 1)]
    pub replay_rate_keys_per_sec: u64,
}

impl Default for HintedHandoff {
    fn default() -> Self {
        HintedHandoff {
            enabled: true,
            max_hint_age_ms: 86_400_000,
            replay_interval_ms: 5000,
            max_bytes_per_target: 256 << 20,
            max_total_bytes: 1 << 30,
            replay_rate_keys_per_sec: 10_000,
        }
    }
}

impl HintedHandoff {
    pub fn caps(&self) -> crate::handoff::HintCaps {
        crate::handoff::HintCaps {
            max_bytes_per_target: self.max_bytes_per_target,
            max_total_bytes: self.max_total_bytes,
        }
    }
}

/// The hot sections together. Field names are the section names of `config.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub quorum: Quorum,
    pub gossip: Gossip,
    pub anti_entropy: AntiEntropy,
    pub versioning: Versioning,
    pub hinted_handoff: HintedHandoff,
}

/// The names of the hot sections, as accepted by `PUT /config`.
pub const HOT_SECTIONS: [&str; 5] = [
    "quorum",
    "gossip",
    "anti_entropy",
    "versioning",
    "hinted_handoff",
];

impl Settings {
    /// Checks the settings as a whole; the error says what to fix.
    pub fn validate(&self) -> Result<(), String> {
        let q = &self.quorum;
        if q.n < 1 {
            return Err(format!("quorum.n must be at least 1, got {}", q.n));
        }
        if q.r < 1 || q.r > q.n {
            return Err(format!(
                "quorum.r must be within 1..={} (quorum.n), got {}",
                q.n, q.r
            ));
        }
        if q.w < 1 || q.w > q.n {
            return Err(format!(
                "quorum.w must be within 1..={} (quorum.n), got {}",
                q.n, q.w
            ));
        }
        let positive = [
            ("gossip.interval_ms", self.gossip.interval_ms),
            ("gossip.failure_timeout_ms", self.gossip.failure_timeout_ms),
            ("gossip.suspect_timeout_ms", self.gossip.suspect_timeout_ms),
            ("anti_entropy.buckets", self.anti_entropy.buckets as u64),
            ("anti_entropy.interval_ms", self.anti_entropy.interval_ms),
            (
                "anti_entropy.repair_rate_keys_per_sec",
                self.anti_entropy.repair_rate_keys_per_sec,
            ),
            (
                "versioning.max_clock_entries",
                self.versioning.max_clock_entries as u64,
            ),
            (
                "versioning.max_siblings",
                self.versioning.max_siblings as u64,
            ),
            (
                "versioning.idempotency_window_ms",
                self.versioning.idempotency_window_ms,
            ),
            (
                "hinted_handoff.max_hint_age_ms",
                self.hinted_handoff.max_hint_age_ms,
            ),
            (
                "hinted_handoff.replay_interval_ms",
                self.hinted_handoff.replay_interval_ms,
            ),
            (
                "hinted_handoff.max_bytes_per_target",
                self.hinted_handoff.max_bytes_per_target,
            ),
            (
                "hinted_handoff.max_total_bytes",
                self.hinted_handoff.max_total_bytes,
            ),
            (
                "hinted_handoff.replay_rate_keys_per_sec",
                self.hinted_handoff.replay_rate_keys_per_sec,
            ),
        ];
        // The documented type of every numeric setting is a signed 64-bit integer (OpenAPI's
        // int64), so the upper bound is its maximum; no real setting comes near it.
        let most = i64::MAX as u64;
        let quorum = [("quorum.n", q.n as u64)];
        for (name, value) in positive.into_iter().chain(quorum) {
            if value == 0 {
                return Err(format!("{name} must be positive"));
            }
            if value > most {
                return Err(format!("{name} must be at most {most}, got {value}"));
            }
        }
        if self.versioning.history > MAX_HISTORY {
            return Err(format!(
                "versioning.history must be at most {MAX_HISTORY}, got {}",
                self.versioning.history
            ));
        }
        let cells = crate::anti_entropy::tree::CELLS;
        if self.anti_entropy.buckets > cells {
            return Err(format!(
                "anti_entropy.buckets must be at most {cells}, got {}",
                self.anti_entropy.buckets
            ));
        }
        let g = &self.gossip;
        if g.failure_timeout_ms < g.interval_ms {
            return Err(format!(
                "gossip.failure_timeout_ms ({}) must be at least gossip.interval_ms ({})",
                g.failure_timeout_ms, g.interval_ms
            ));
        }
        if g.fanout == 0 || g.fanout > ringkv_gossip::MAX_FANOUT {
            return Err(format!(
                "gossip.fanout must be within 1..={}, got {}",
                ringkv_gossip::MAX_FANOUT,
                g.fanout
            ));
        }
        Ok(())
    }

    /// Applies a partial JSON update (`{"quorum": {"w": 1}}`) and validates the result.
    /// Unknown sections or keys are errors; `self` is not modified.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Settings, String> {
        let patch = patch
            .as_object()
            .ok_or("the body must be a JSON object of config sections")?;
        let mut current = serde_json::to_value(self).map_err(|e| e.to_string())?;
        for (section, fields) in patch {
            if !HOT_SECTIONS.contains(&section.as_str()) {
                return Err(format!(
                    "`{section}` cannot be changed at run time; hot sections are: {}",
                    HOT_SECTIONS.join(", ")
                ));
            }
            let fields = fields
                .as_object()
                .ok_or_else(|| format!("`{section}` must be an object of settings"))?;
            let target = current[section.as_str()]
                .as_object_mut()
                .ok_or_else(|| format!("`{section}` is not a section"))?;
            for (key, value) in fields {
                if !target.contains_key(key) {
                    return Err(format!("unknown setting `{section}.{key}`"));
                }
                target.insert(key.clone(), whole_as_integer(value));
            }
        }
        let next: Settings =
            serde_json::from_value(current).map_err(|e| format!("invalid value: {e}"))?;
        next.validate()?;
        Ok(next)
    }
}

/// `5.0` as `5`: JSON Schema's `integer` (the documented type of every numeric setting)
/// admits a whole number written with a fraction, and the typed settings must too.
fn whole_as_integer(value: &serde_json::Value) -> serde_json::Value {
    match value.as_f64() {
        Some(f) if value.is_f64() && f.fract() == 0.0 && (0.0..1.8e19).contains(&f) => {
            serde_json::Value::from(f as u64)
        }
        _ => value.clone(),
    }
}

/// Settings plus the version that orders changes across the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedSettings {
    /// 0 for the settings read from the config file; each `PUT /config` increments it.
    pub version: u64,
    /// The node that made this version (tie-breaker between concurrent changes).
    pub origin: String,
    pub settings: Settings,
}

impl VersionedSettings {
    /// True when `self` should replace `other`.
    pub fn supersedes(&self, other: &VersionedSettings) -> bool {
        (self.version, &self.origin) > (other.version, &other.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn patch_changes_only_named_fields() {
        let next = Settings::default()
            .patched(&json!({"quorum": {"w": 1}}))
            .unwrap();
        assert_eq!(
            next.quorum,
            Quorum {
                n: 3,
                r: 2,
                w: 1,
                sloppy: true
            }
        );
        assert_eq!(next.gossip, Gossip::default());
        let whole = Settings::default()
            .patched(&json!({"gossip": {"interval_ms": 250.0}}))
            .unwrap();
        assert_eq!(
            whole.gossip.interval_ms, 250,
            "JSON Schema's integer admits 250.0"
        );
        assert!(
            Settings::default()
                .patched(&json!({"gossip": {"interval_ms": 2.5}}))
                .is_err()
        );
    }

    #[test]
    fn patch_rejects_invalid_wholes_and_unknown_keys() {
        let s = Settings::default();
        assert!(
            s.patched(&json!({"quorum": {"r": 4}}))
                .unwrap_err()
                .contains("quorum.r")
        );
        assert!(
            s.patched(&json!({"quorum": {"n": 1}})).is_err(),
            "r=2 > n=1"
        );
        assert!(
            s.patched(&json!({"quorum": {"x": 1}}))
                .unwrap_err()
                .contains("quorum.x")
        );
        assert!(s.patched(&json!({"port": 1})).is_err());
        assert!(s.patched(&json!({"quorum": {"w": "two"}})).is_err());
        assert!(s.patched(&json!({"gossip": {"interval_ms": 0}})).is_err());
        assert!(
            s.patched(&json!({"gossip": {"interval_ms": 9000}}))
                .unwrap_err()
                .contains("failure_timeout_ms")
        );
        assert!(s.patched(&json!({"gossip": {"fanout": 0}})).is_err());
        assert!(
            s.patched(&json!({"versioning": {"max_siblings": 9_223_372_036_854_775_808_u64}}))
                .unwrap_err()
                .contains("at most 9223372036854775807"),
            "above OpenAPI's int64"
        );
        assert!(s.patched(&json!([1])).is_err());
    }

    #[test]
    fn higher_version_wins_then_origin() {
        let a = VersionedSettings {
            version: 2,
            origin: "a".into(),
            settings: Settings::default(),
        };
        let b = VersionedSettings {
            version: 1,
            origin: "z".into(),
            settings: Settings::default(),
        };
        assert!(a.supersedes(&b));
        let c = VersionedSettings {
            version: 2,
            origin: "b".into(),
            settings: Settings::default(),
        };
        assert!(c.supersedes(&a));
        assert!(!a.supersedes(&a));
    }
}
