//! Hinted handoff: writes a replica missed reach it once it is back.
//!
//! - **Where hints come from** (`coordinator/write.rs`): a write whose preference-list member is
//!   dead or does not ack in time goes to the next healthy members clockwise as fallbacks, each
//!   storing a hint naming the intended owner (sloppy quorum: their acks count toward W unless
//!   the write is strict). A member that never acked and got no fallback (a 3-node cluster with
//!   N=3 has none) gets a hint kept by the coordinator, which does not count toward W.
//! - **Where hints live** ([`hints`] for the format; `replica.rs` owns the storage): in the
//!   node's storage engine under their own prefix, one record per (owner, key), merged when
//!   hinted again, so they survive restarts and never mix with the node's own data.
//! - **Bounds** ([`HintBook`]): by age (`hinted_handoff.max_hint_age_ms`: older hints are
//!   dropped at replay), by bytes per owner and in total (`max_bytes_per_target`,
//!   `max_total_bytes`: a hint over a cap is refused, so a fallback never acks what it cannot
//!   keep). Every drop is counted by reason in `/metrics`.
//! - **Replay** ([`replay`], a worker): every `replay_interval_ms`, and as soon as gossip shows
//!   an owner alive, its hints are sent (batched, throttled to `replay_rate_keys_per_sec`) and
//!   merged there, never overwriting; a hint is deleted only if unchanged since it was sent, so
//!   a newer hint for the key is replayed next round. Replay is idempotent. The hints of an
//!   owner that left the cluster go to the key's current replicas instead.

pub mod hints;
pub mod replay;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The caps a hint must fit under (from the hot settings).
#[derive(Debug, Clone, Copy)]
pub struct HintCaps {
    pub max_bytes_per_target: u64,
    pub max_total_bytes: u64,
}

/// Why a hint was dropped (the `reason` label of `ringkv_hints_dropped_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// Older than `max_hint_age_ms` at replay.
    Age,
    /// The owner's hints would exceed `max_bytes_per_target`.
    TargetCap,
    /// All hints would exceed `max_total_bytes`.
    TotalCap,
    /// Hinted handoff is disabled: nothing is kept.
    Disabled,
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Age => "age",
            DropReason::TargetCap => "target_cap",
            DropReason::TotalCap => "total_cap",
            DropReason::Disabled => "disabled",
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Held {
    hints: u64,
    bytes: u64,
}

/// What this node holds in hints, per owner, and what happened to hints so far. The holdings
/// are rebuilt from storage at open and kept in step with every hint stored or deleted (under
/// the key's lock in `replica.rs`).
#[derive(Debug, Default)]
pub struct HintBook {
    held: Mutex<BTreeMap<String, Held>>,
    stored: AtomicU64,
    replayed: AtomicU64,
    dropped: Mutex<BTreeMap<DropReason, u64>>,
}

impl HintBook {
    fn held(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Held>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a record found at open.
    pub fn found(&self, target: &str, bytes: u64) {
        let mut held = self.held();
        let h = held.entry(target.to_string()).or_default();
        h.hints += 1;
        h.bytes += bytes;
    }

    /// The cap `extra` more bytes for `target` would break, if any.
    pub fn over_cap(&self, target: &str, extra: u64, caps: HintCaps) -> Option<DropReason> {
        let held = self.held();
        let mine = held.get(target).map_or(0, |h| h.bytes);
        let total: u64 = held.values().map(|h| h.bytes).sum();
        if mine + extra > caps.max_bytes_per_target {
            Some(DropReason::TargetCap)
        } else if total + extra > caps.max_total_bytes {
            Some(DropReason::TotalCap)
        } else {
            None
        }
    }

    /// A record for `target` went from `before` to `after` bytes (0: absent).
    pub fn changed(&self, target: &str, before: u64, after: u64) {
        let mut held = self.held();
        let h = held.entry(target.to_string()).or_default();
        match (before, after) {
            (0, 0) => {}
            (0, _) => h.hints += 1,
            (_, 0) => h.hints = h.hints.saturating_sub(1),
            _ => {}
        }
        h.bytes = (h.bytes + after).saturating_sub(before);
        if h.hints == 0 {
            held.remove(target);
        }
    }

    pub fn stored(&self) {
        self.stored.fetch_add(1, Ordering::Relaxed);
    }

    pub fn replayed(&self, n: u64) {
        self.replayed.fetch_add(n, Ordering::Relaxed);
    }

    pub fn dropped(&self, reason: DropReason, n: u64) {
        let mut dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        *dropped.entry(reason).or_default() += n;
    }

    /// The owners this node holds hints for, with how many and how many bytes.
    pub fn targets(&self) -> Vec<(String, u64, u64)> {
        self.held()
            .iter()
            .map(|(t, h)| (t.clone(), h.hints, h.bytes))
            .collect()
    }

    /// Prometheus text of the hint figures.
    pub fn render(&self, out: &mut String) {
        let (hints, bytes) = self
            .held()
            .values()
            .fold((0, 0), |(n, b), h| (n + h.hints, b + h.bytes));
        let rows = [
            (
                "ringkv_hints_pending",
                "gauge",
                "Hints held for other replicas.",
                hints,
            ),
            (
                "ringkv_hints_pending_bytes",
                "gauge",
                "Bytes of the hints held.",
                bytes,
            ),
            (
                "ringkv_hints_stored_total",
                "counter",
                "Hints stored (a newer hint of a key merged into an older one counts too).",
                self.stored.load(Ordering::Relaxed),
            ),
            (
                "ringkv_hints_replayed_total",
                "counter",
                "Hints delivered to their replica and deleted.",
                self.replayed.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out.push_str(
            "# HELP ringkv_hints_dropped_total Hints not kept or not delivered, by reason.\n",
        );
        out.push_str("# TYPE ringkv_hints_dropped_total counter\n");
        let dropped = self.dropped.lock().unwrap_or_else(|p| p.into_inner());
        for reason in [
            DropReason::Age,
            DropReason::TargetCap,
            DropReason::TotalCap,
            DropReason::Disabled,
        ] {
            let n = dropped.get(&reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "ringkv_hints_dropped_total{{reason=\"{}\"}} {n}",
                reason.as_str()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: HintCaps = HintCaps {
        max_bytes_per_target: 100,
        max_total_bytes: 150,
    };

    #[test]
    fn holdings_follow_changes_and_caps_apply_per_target_then_in_total() {
        let book = HintBook::default();
        book.changed("a", 0, 60);
        book.changed("a", 60, 90);
        assert_eq!(book.targets(), [("a".to_string(), 1, 90)]);
        assert_eq!(book.over_cap("a", 20, CAPS), Some(DropReason::TargetCap));
        book.changed("b", 0, 50);
        assert_eq!(book.over_cap("b", 20, CAPS), Some(DropReason::TotalCap));
        assert_eq!(book.over_cap("b", 5, CAPS), None);
        book.changed("a", 90, 0);
        assert_eq!(book.targets(), [("b".to_string(), 1, 50)]);
        book.dropped(DropReason::TargetCap, 2);
        let mut text = String::new();
        book.render(&mut text);
        assert!(
            text.contains("ringkv_hints_dropped_total{reason=\"target_cap\"} 2"),
            "{text}"
        );
        assert!(text.contains("ringkv_hints_pending_bytes 50"), "{text}");
    }
}
