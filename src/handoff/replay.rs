//! The hint replay worker (see the module docs of [`crate::handoff`]).
//!
//! Every `hinted_handoff.replay_interval_ms`, and whenever the member table changes (an owner
//! came back), each owner this node holds hints for is tried: alive owners get their hints in
//! batches (`POST /internal/merge-batch`, merged there), owners that left the cluster have
//! their hints sent to the keys' current replicas, suspect or dead owners wait. A hint is
//! deleted only once delivered and only if unchanged meanwhile. Hints past
//! `max_hint_age_ms` are dropped and counted. Throttled to `replay_rate_keys_per_sec`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::DropReason;
use super::hints::Hint;
use crate::cluster::{Liveness, Phase};
use crate::node::Node;
use crate::replica::now_ms;

/// Hints per batch.
const PAGE: usize = 256;

/// The worker.
pub async fn run(node: Arc<Node>, token: CancellationToken) {
    let mut changes = node.membership.changes();
    loop {
        let settings = node.cluster.settings().settings.hinted_handoff;
        if settings.enabled {
            round(&node, &token).await;
        }
        let interval = Duration::from_millis(settings.replay_interval_ms);
        tokio::select! {
            () = token.cancelled() => break,
            _ = changes.changed() => {}
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// Where an owner's hints go now.
enum Destination {
    /// The owner, alive.
    Owner(String),
    /// The owner left: each key's current replicas.
    Replicas,
    /// Not now (suspect, dead, joining or still unknown).
    Wait,
}

fn destination(node: &Node, target: &str) -> Destination {
    let view = node.cluster.view();
    if view.departed.contains(target) {
        return Destination::Replicas;
    }
    match view.members.get(target) {
        Some(m) if m.phase == Phase::Left => Destination::Replicas,
        Some(m) if m.liveness == Liveness::Alive => Destination::Owner(m.url.clone()),
        _ => Destination::Wait,
    }
}

/// One pass over every owner.
async fn round(node: &Arc<Node>, token: &CancellationToken) {
    for (target, _, _) in node.replica.hint_book().targets() {
        if token.is_cancelled() {
            return;
        }
        let to = destination(node, &target);
        if matches!(to, Destination::Wait) {
            continue;
        }
        let started = Instant::now();
        match replay_target(node, &target, &to, token).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                %target,
                hints = n,
                secs = started.elapsed().as_secs_f64(),
                "replayed hints"
            ),
            Err(e) => tracing::debug!(%target, "hint replay stopped: {e}"),
        }
    }
}

/// Replays every hint held for `target`; returns how many were delivered.
async fn replay_target(
    node: &Arc<Node>,
    target: &str,
    to: &Destination,
    token: &CancellationToken,
) -> Result<u64, String> {
    let started = Instant::now();
    let mut after = None;
    let mut delivered = 0u64;
    loop {
        let page = node
            .replica
            .hint_page(target, after.clone(), PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some((last, _)) = page.last() else {
            return Ok(delivered);
        };
        after = Some(last.clone());
        let full = page.len() == PAGE;
        let settings = node.cluster.settings().settings.hinted_handoff;
        let oldest_kept = now_ms().saturating_sub(settings.max_hint_age_ms);
        let mut batches: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        let mut sent = Vec::new();
        for (key, raw) in page {
            let hint = match Hint::decode(&raw) {
                Ok(hint) if hint.created_ms >= oldest_kept => hint,
                decoded => {
                    if decoded.is_err() {
                        tracing::error!(%target, %key, "dropping an unreadable hint");
                    }
                    node.replica.hint_book().dropped(DropReason::Age, 1);
                    let _ = node.replica.drop_hint_if(target, &key, raw).await;
                    continue;
                }
            };
            let encoded = hint.set.encode();
            for url in urls_for(node, to, &key) {
                batches
                    .entry(url)
                    .or_default()
                    .push((key.clone(), encoded.clone()));
            }
            sent.push((key, raw));
        }
        for (url, batch) in &batches {
            node.rpc
                .merge_batch(url, batch)
                .await
                .map_err(|e| e.to_string())?;
        }
        let mut this_page = 0;
        for (key, raw) in sent {
            if let Ok(true) = node.replica.drop_hint_if(target, &key, raw).await {
                this_page += 1;
            }
        }
        node.replica.hint_book().replayed(this_page);
        delivered += this_page;
        if !full || token.is_cancelled() {
            return Ok(delivered);
        }
        pace(settings.replay_rate_keys_per_sec, delivered, started, token).await;
    }
}

/// The URLs a hint of `key` goes to.
fn urls_for(node: &Node, to: &Destination, key: &str) -> Vec<String> {
    match to {
        Destination::Owner(url) => vec![url.clone()],
        Destination::Replicas => node
            .cluster
            .view()
            .placement(key, node.n())
            .writes
            .into_iter()
            .map(|m| m.url)
            .collect(),
        Destination::Wait => Vec::new(),
    }
}

/// Sleeps so that `done` keys since `started` stay under `rate` per second.
async fn pace(rate: u64, done: u64, started: Instant, token: &CancellationToken) {
    let due = Duration::from_secs_f64(done as f64 / rate.max(1) as f64);
    let elapsed = started.elapsed();
    if due > elapsed {
        tokio::select! {
            () = token.cancelled() => {}
            () = tokio::time::sleep(due - elapsed) => {}
        }
    }
}
