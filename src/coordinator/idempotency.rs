//! Idempotent retries (`Idempotency-Key` on PUT, DELETE and append; see API.md).
//!
//! The record of a token is a [`Receipt`] inside the key's own version set: written in the same
//! storage batch as the version it answers, by the replica that mints it, under the key's lock,
//! and shipped with the set to the other replicas. So every path that moves a set (replication,
//! read repair, hints, rebalance, anti-entropy) moves the receipt too, and a retry through
//! another coordinator after the first one died finds it on the replicas the first one reached.
//!
//! A write with a token always does the context read first (it never takes the one-round PUT
//! path): if the merged read holds a receipt of the token, the write is not applied again; the
//! merged set is stored here and sent to the replicas (completing a first attempt that reached
//! only some), and the first attempt's answer is repeated. Otherwise the receipt goes with the
//! new version, and the minting replica checks again under the key's lock (two retries racing
//! through one coordinator apply once). A receipt of the same token with another fingerprint
//! (another method, value, TTL, context or precondition) answers 422.
//!
//! Receipts count from `recorded_at_ms`; older than `versioning.idempotency_window_ms` they are
//! ignored and dropped by the next write of the key (`Limits::receipts_since_ms`), at most
//! `MAX_RECEIPTS_PER_KEY` are kept per key, and they go with the set when it is collected.
//! What is not covered: two attempts racing through two coordinators at the same moment, each
//! reading before the other wrote (a client retries after a timeout, not concurrently).

use ringkv_versions::{Receipt, VersionSet};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::CoordError;
use super::write::{WriteOutcome, WriteRequest};

/// Test-only fault injection, named for what it does: when set to a key, the coordinator of a
/// write of that key SIGKILLs itself right after the write reached its W replicas and before
/// it answers (a coordinator dying between the replica fan-out and the reply, deterministically).
/// `tests/idempotency.rs` uses it; nothing else should set it.
pub const FAULT_EXIT_AFTER_FANOUT: &str = "RINGKV_FAULT_EXIT_AFTER_FANOUT";

/// The answer kept in a receipt (the value only for an append: a PUT answers its own value,
/// which the fingerprint pins).
#[derive(Serialize, Deserialize)]
struct Answer {
    created: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

/// The hash that tells a repeat of a request from another request with the same token: what
/// the request asks for (quorum and sloppiness choices are not part of it).
pub(super) fn fingerprint(req: &WriteRequest) -> u64 {
    let what = serde_json::to_vec(&(
        req.kind,
        &req.key,
        &req.value,
        req.ttl_ms,
        &req.context,
        req.condition,
    ))
    .unwrap_or_default();
    xxh3_64(&what)
}

/// The receipt of `req`'s token answering `outcome`.
pub(super) fn receipt(
    token: &str,
    req: &WriteRequest,
    outcome: &WriteOutcome,
    now_ms: u64,
) -> Receipt {
    let value = match req.kind {
        super::WriteKind::Append => outcome.value.clone(),
        _ => None,
    };
    let answer = Answer {
        created: outcome.created,
        value,
    };
    Receipt {
        token: token.to_owned(),
        fingerprint: fingerprint(req),
        recorded_at_ms: now_ms,
        outcome: serde_json::to_vec(&answer).unwrap_or_default(),
    }
}

/// The first attempt's answer, from its receipt, for a repeat of `req` (422 for another request
/// under the same token). The context is the one of `set`, as stored now.
pub(super) fn replay(
    held: &Receipt,
    req: &WriteRequest,
    set: &VersionSet,
) -> Result<WriteOutcome, CoordError> {
    if held.fingerprint != fingerprint(req) {
        return Err(CoordError::Unprocessable(format!(
            "Idempotency-Key `{}` was already used for a different request to this key; \
             use a new key for a new request",
            held.token
        )));
    }
    let answer: Answer = serde_json::from_slice(&held.outcome).map_err(|e| {
        CoordError::Internal(format!("the stored idempotency record is unreadable: {e}"))
    })?;
    Ok(WriteOutcome {
        created: answer.created,
        value: answer.value.or_else(|| req.value.clone()),
        context: set.context_header(),
    })
}

/// The fault hook: dies like `kill -9` when `key` is the one named by
/// [`FAULT_EXIT_AFTER_FANOUT`].
pub(super) fn fault_after_fanout(key: &str) {
    static TARGET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let target = TARGET.get_or_init(|| std::env::var(FAULT_EXIT_AFTER_FANOUT).ok());
    if target.as_deref() == Some(key) {
        tracing::warn!("{FAULT_EXIT_AFTER_FANOUT}: killing this node after the fan-out of `{key}`");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        std::process::abort();
    }
}
