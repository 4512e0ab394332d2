//! Data movement when the membership changes: one mechanism for a join, a leave, the repair
//! after a forced removal, and the clean-up of what a node no longer replicates.
//!
//! **The rule.** When key ownership moves from the ring of `old` members to the ring of `new`
//! members, a member that enters a key's preference list gets the key from the member it
//! displaces (whose copy, with the others still in the list, keeps every acknowledged write
//! on W replicas of the new list), or, when that member is dead or nobody is displaced, from
//! the first live old owner. [`MoveFilter`] decides, on the source, which keys a target must
//! receive; every move uses it:
//! - **Join** (this node `joining`): pull from every live member of the read ring
//!   (`POST /internal/move`, paged, throttled, cursors persisted in `move.json`, so a restart
//!   resumes), then turn `joined`; once every member has seen that, turn `normal`.
//! - **Leave** (this node `leaving`): push every key to the members that enter its list in the
//!   ring without this node (`POST /internal/merge-batch`), with the same filter; then
//!   `departing`, then `left`. A crash mid-leave resumes from the persisted cursor.
//! - **Repair** (a member removed with `?force=true`, on every node): pull the keys this node
//!   now owns from their live old owners; until that finished, this node answers reads of those
//!   keys "not ready" so a coordinator asks the other replicas instead of taking a false 404.
//! - **Clean-up** (every node, once all members agree and none is moving): hand each key this
//!   node no longer replicates to its owners, then drop it.
//!
//! Every step that changes the rings waits until every live member acknowledged the current
//! phases (`Membership::wait_acked`), and a move restarts when the rings change under it:
//! merges are idempotent, so restarting only costs time.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringkv_ring::Ring;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::cluster::{Movement, Phase, View};
use crate::node::Node;
use crate::rpc::MoveRequest;

/// Keys per page of a move.
const PAGE: usize = 512;
/// Keys a source scans at most for one page.
const SCAN_BUDGET: usize = 16 * 1024;
/// How long to wait before retrying a member that failed.
const RETRY: Duration = Duration::from_millis(500);

/// Which keys `source` must send `target` when ownership moves from `old` to `new`.
pub struct MoveFilter {
    old: Ring,
    new: Ring,
    n: usize,
    target: String,
    source: String,
    dead: HashSet<String>,
}

impl MoveFilter {
    pub fn new(req: &MoveRequest, source: &str) -> MoveFilter {
        MoveFilter {
            old: Ring::new(req.old.iter().cloned(), req.tokens_per_member),
            new: Ring::new(req.new.iter().cloned(), req.tokens_per_member),
            n: req.n,
            target: req.target.clone(),
            source: source.to_string(),
            dead: req.dead.iter().cloned().collect(),
        }
    }

    /// True when `key` enters the target's list and this source is the one to send it.
    pub fn wants(&self, key: &str) -> bool {
        let new = self.new.preference_list(key.as_bytes(), self.n);
        if !new.contains(&self.target) {
            return false;
        }
        let old = self.old.preference_list(key.as_bytes(), self.n);
        if old.contains(&self.target) || !old.contains(&self.source) {
            return false;
        }
        sender(&old, &new, &self.dead) == Some(&self.source)
    }
}

/// The member that hands a key to the members entering its list: the first live displaced
/// old owner, else the first live old owner.
fn sender<'a>(old: &'a [String], new: &[String], dead: &HashSet<String>) -> Option<&'a String> {
    let live = |m: &&String| !dead.contains(*m);
    old.iter()
        .filter(|m| !new.contains(m))
        .find(live)
        .or_else(|| old.iter().find(live))
}

/// What a join or repair persists to resume after a crash.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
struct MoveJob {
    kind: String,
    old: Vec<String>,
    new: Vec<String>,
    /// Per source, the last key received (absent: not started; `done`: finished).
    cursors: BTreeMap<String, Option<String>>,
    done: Vec<String>,
    keys_moved: u64,
    bytes_moved: u64,
}

/// Why a move stopped before finishing.
enum Stop {
    /// Shutdown.
    Cancelled,
    /// The rings changed: start over with the new ones.
    Restart,
}

/// A repair in progress on this node: reads of keys it is still receiving are not served.
pub struct Pending {
    old: Ring,
    new: Ring,
    n: usize,
    me: String,
}

impl Pending {
    /// True while this node is still receiving `key`'s set.
    pub fn not_ready(&self, key: &str) -> bool {
        self.new
            .preference_list(key.as_bytes(), self.n)
            .contains(&self.me)
            && !self
                .old
                .preference_list(key.as_bytes(), self.n)
                .contains(&self.me)
    }
}

/// A member that cannot send data: dead, departed, or unknown.
fn gone(view: &View, id: &str) -> bool {
    view.is_dead(id) || view.departed.contains(id) || !view.members.contains_key(id)
}

fn members_of(ring: &Ring) -> Vec<String> {
    ring.members().to_vec()
}

fn job_path(node: &Node) -> std::path::PathBuf {
    node.cluster.dir().join("move.json")
}

fn load_job(node: &Node) -> Option<MoveJob> {
    crate::persist::read_json(&job_path(node)).ok().flatten()
}

async fn save_job(node: &Node, job: Option<&MoveJob>) {
    let path = job_path(node);
    let job = job.cloned();
    let saved = tokio::task::spawn_blocking(move || match job {
        Some(job) => crate::persist::write_json(&path, &job),
        None => match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        },
    })
    .await;
    if let Ok(Err(e)) | Err(e) = saved.map_err(anyhow::Error::from) {
        tracing::error!("persisting the move job failed: {e:#}");
    }
}

async fn set_phase(node: &Arc<Node>, phase: Phase) -> anyhow::Result<()> {
    let membership = node.membership.clone();
    tokio::task::spawn_blocking(move || membership.set_phase(phase)).await?
}

/// Sleeps `d` unless cancelled; false when cancelled.
async fn pause(token: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = token.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

/// The ring diff's prediction for `me` going from `old` to `new`: the ranges and the share of
/// the key space `me` gains (or, when it gains nothing, as a leaving member, gives away).
fn prediction(old: &Ring, new: &Ring, n: usize, me: &str) -> (u64, f64) {
    let moves = old.diff(new, n);
    let mut mine: Vec<_> = moves.iter().filter(|m| m.to == me).collect();
    if mine.is_empty() {
        mine = moves.iter().filter(|m| m.from == me).collect();
    }
    let share = mine.iter().map(|m| m.range.width() as f64).sum::<f64>() / 2f64.powi(64);
    (mine.len() as u64, share)
}

/// The worker: drives this node's own phase changes and the moves they need.
pub async fn run(node: Arc<Node>, token: CancellationToken) {
    let mut changes = node.membership.changes();
    let mut prev = node.cluster.view();
    let mut cleaned: Option<u64> = None;
    if let Some(job) = load_job(&node).filter(|j| j.kind == "repair") {
        repair(&node, job, &token).await;
    }
    while !token.is_cancelled() {
        let view = node.cluster.view();
        if let Some(job) = forced_removal(&node, &prev, &view) {
            repair(&node, job, &token).await;
        }
        prev = view.clone();
        let result = match node.membership.phase() {
            Phase::Joining => join(&node, &token).await,
            Phase::Joined => settle(&node, &token, Phase::Normal).await,
            Phase::Leaving => leave(&node, &token).await,
            Phase::Departing => settle(&node, &token, Phase::Left).await,
            Phase::Normal => {
                if !view.in_transition()
                    && cleaned != Some(view.phase_hash)
                    && node.membership.acked()
                {
                    cleaned = clean_up(&node, &view, &token)
                        .await
                        .then_some(view.phase_hash);
                }
                Ok(())
            }
            Phase::Left => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!("data movement step failed, retrying: {e:#}");
            if !pause(&token, RETRY * 4).await {
                break;
            }
        }
        tokio::select! {
            () = token.cancelled() => break,
            _ = changes.changed() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// Waits until every member saw this node's phase, then moves to `next`.
async fn settle(node: &Arc<Node>, token: &CancellationToken, next: Phase) -> anyhow::Result<()> {
    if node.membership.wait_acked(token).await {
        set_phase(node, next).await?;
        if matches!(next, Phase::Normal | Phase::Left) {
            node.membership.set_movement(None);
        }
    }
    Ok(())
}

/// Joining: bootstrap a fresh cluster, or pull this node's ranges, then turn `joined`.
async fn join(node: &Arc<Node>, token: &CancellationToken) -> anyhow::Result<()> {
    let view = node.cluster.view();
    let me = &node.cluster.self_id;
    let others: Vec<_> = view
        .members
        .iter()
        .filter(|(id, m)| *id != me && m.phase != Phase::Left)
        .collect();
    if others.is_empty() {
        return Ok(()); // nobody heard of yet: keep contacting the seeds
    }
    if !others.iter().any(|(_, m)| m.phase.in_read()) {
        tracing::info!("no member holds data yet: this node starts the cluster");
        return set_phase(node, Phase::Normal).await;
    }
    if !node.membership.wait_acked(token).await {
        return Ok(());
    }
    let view = node.cluster.view();
    let job = match load_job(node) {
        Some(job)
            if job.kind == "join"
                && job.old == members_of(&view.read)
                && job.new == members_of(&view.target) =>
        {
            job
        }
        _ => {
            rehome(node, &view, token).await;
            MoveJob {
                kind: "join".into(),
                old: members_of(&view.read),
                new: members_of(&view.target),
                ..MoveJob::default()
            }
        }
    };
    match pull(node, job, token).await {
        Ok(()) => {
            set_phase(node, Phase::Joined).await?;
            save_job(node, None).await;
        }
        Err(Stop::Restart) => tracing::info!("the rings changed during the join: starting over"),
        Err(Stop::Cancelled) => {}
    }
    Ok(())
}

/// Pulls what this node gains in `job` from every live old owner, resuming its cursors.
async fn pull(node: &Arc<Node>, mut job: MoveJob, token: &CancellationToken) -> Result<(), Stop> {
    let me = node.cluster.self_id.clone();
    let n = node.n();
    let tokens = node.cluster.tokens_per_member;
    let old_ring = Ring::new(job.old.iter().cloned(), tokens);
    let new_ring = Ring::new(job.new.iter().cloned(), tokens);
    let (ranges, share) = prediction(&old_ring, &new_ring, n, &me);
    tracing::info!(kind = %job.kind, ranges, share, "moving data in: the ring diff predicts {:.1}% of the keys", share * 100.0);
    let started = Instant::now();
    let start_keys = job.keys_moved;
    'restart: loop {
        let view = node.cluster.view();
        let dead: Vec<String> = job.old.iter().filter(|m| gone(&view, m)).cloned().collect();
        for source in job.old.clone() {
            if source == me || job.done.contains(&source) || dead.contains(&source) {
                continue;
            }
            let Some(url) = view.members.get(&source).map(|m| m.url.clone()) else {
                continue;
            };
            loop {
                if token.is_cancelled() {
                    return Err(Stop::Cancelled);
                }
                let now = node.cluster.view();
                let rings_changed = match job.kind.as_str() {
                    "join" => {
                        members_of(&now.read) != job.old || members_of(&now.target) != job.new
                    }
                    _ => false,
                };
                if rings_changed {
                    return Err(Stop::Restart);
                }
                let req = MoveRequest {
                    old: job.old.clone(),
                    new: job.new.clone(),
                    n,
                    tokens_per_member: tokens,
                    target: me.clone(),
                    dead: dead.clone(),
                    after: job.cursors.get(&source).cloned().flatten(),
                    limit: PAGE,
                };
                let page = match node.rpc.move_page(&url, &req).await {
                    Ok(page) => page,
                    Err(e) => {
                        if gone(&node.cluster.view(), &source) {
                            // The keys it was to send now come from other owners, which may
                            // already have scanned past them: every source starts over.
                            tracing::warn!(%source, "source died during the move: re-planning");
                            job.cursors.clear();
                            job.done.clear();
                            continue 'restart;
                        }
                        tracing::debug!(%source, "move page failed, retrying: {e}");
                        if !pause(token, RETRY).await {
                            return Err(Stop::Cancelled);
                        }
                        continue;
                    }
                };
                let keys = page.entries.len() as u64;
                let bytes: u64 = page
                    .entries
                    .iter()
                    .map(|(k, s)| (k.len() + s.versions().len() * 16) as u64)
                    .sum();
                let limits = node.cluster.settings().settings.versioning.limits();
                if let Err(e) = node.replica.merge_many(page.entries, limits).await {
                    tracing::error!("storing moved keys failed: {e}");
                    if !pause(token, RETRY).await {
                        return Err(Stop::Cancelled);
                    }
                    continue;
                }
                job.keys_moved += keys;
                job.bytes_moved += bytes;
                job.cursors.insert(source.clone(), page.cursor.clone());
                if page.done {
                    job.done.push(source.clone());
                }
                save_job(node, Some(&job)).await;
                node.membership.set_movement(Some(Movement {
                    kind: job.kind.clone(),
                    keys_moved: job.keys_moved,
                    keys_total: None,
                    bytes_moved: job.bytes_moved,
                    ranges,
                    predicted_share: share,
                }));
                node.metrics.moved(keys, bytes);
                throttle(node, job.keys_moved - start_keys, started, token).await;
                if page.done {
                    break;
                }
            }
        }
        tracing::info!(kind = %job.kind, keys = job.keys_moved, secs = started.elapsed().as_secs_f64(), "data moved in");
        return Ok(());
    }
}

/// Keeps a move under `move_rate_keys_per_sec`.
async fn throttle(node: &Node, keys: u64, started: Instant, token: &CancellationToken) {
    let rate = node.config.move_rate_keys_per_sec.max(1) as f64;
    let due = Duration::from_secs_f64(keys as f64 / rate);
    let elapsed = started.elapsed();
    if due > elapsed {
        pause(token, due - elapsed).await;
    }
}

/// Pushes every local key to its owners in the read ring (a node joining with data of its
/// own, from a cluster it was alone in): its data stays readable through the old owners.
async fn rehome(node: &Arc<Node>, view: &View, token: &CancellationToken) {
    let me = node.cluster.self_id.clone();
    let n = node.n();
    let read = view.read.clone();
    let urls: BTreeMap<String, String> = view
        .members
        .iter()
        .map(|(id, m)| (id.clone(), m.url.clone()))
        .collect();
    push_all(node, token, "rehome", |key| {
        read.preference_list(key.as_bytes(), n)
            .into_iter()
            .filter(|m| *m != me)
            .filter_map(|m| urls.get(&m).cloned())
            .collect()
    })
    .await;
}

/// Scans every local key and merges it into the members `dests(key)` names (batched per
/// member); returns the keys sent, or `None` when cancelled. Dead members are skipped.
async fn push_all(
    node: &Arc<Node>,
    token: &CancellationToken,
    kind: &str,
    dests: impl Fn(&str) -> Vec<String>,
) -> Option<u64> {
    let mut cursor = None;
    let mut sent = 0u64;
    loop {
        let page = match node
            .replica
            .scan_moving(cursor.clone(), PAGE, PAGE, |_| true)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!("scanning local keys failed: {e}");
                return None;
            }
        };
        let mut batches: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        for (key, set) in &page.entries {
            for url in dests(key) {
                batches
                    .entry(url)
                    .or_default()
                    .push((key.clone(), set.clone()));
            }
        }
        for (url, batch) in batches {
            if !send_batch(node, &url, &batch, token).await {
                return None;
            }
            sent += batch.len() as u64;
        }
        if page.done {
            tracing::info!(kind, sent, "pushed local keys");
            return Some(sent);
        }
        cursor = page.cursor;
    }
}

/// Sends one batch, retrying until it lands or the member is dead (skipped: anti-entropy and
/// the other replicas cover it). False when cancelled.
async fn send_batch(
    node: &Node,
    url: &str,
    batch: &[(String, Vec<u8>)],
    token: &CancellationToken,
) -> bool {
    loop {
        match node.rpc.merge_batch(url, batch).await {
            Ok(()) => {
                let bytes = batch.iter().map(|(k, s)| (k.len() + s.len()) as u64).sum();
                node.metrics.moved(batch.len() as u64, bytes);
                return true;
            }
            Err(e) => {
                let view = node.cluster.view();
                let dead = view
                    .members
                    .values()
                    .any(|m| m.url == url && m.liveness == crate::cluster::Liveness::Dead);
                if dead {
                    tracing::warn!(%url, "a new owner is dead: its copy is left to repair");
                    return true;
                }
                tracing::debug!(%url, "handing off failed, retrying: {e}");
                if !pause(token, RETRY).await {
                    return false;
                }
            }
        }
    }
}

/// What a leave persists to resume after a crash.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct LeaveJob {
    old: Vec<String>,
    new: Vec<String>,
    cursor: Option<String>,
    sent: u64,
    total: u64,
}

/// Leaving: hand every key to the members entering its list, then turn `departing`.
async fn leave(node: &Arc<Node>, token: &CancellationToken) -> anyhow::Result<()> {
    if !node.membership.wait_acked(token).await {
        return Ok(());
    }
    let view = node.cluster.view();
    let path = node.cluster.dir().join("leave.json");
    let old = members_of(&view.read);
    let new = members_of(&view.target);
    let mut job = match crate::persist::read_json::<LeaveJob>(&path).ok().flatten() {
        Some(job) if job.old == old && job.new == new => job,
        _ => LeaveJob {
            old,
            new,
            total: node.replica.count().await?,
            ..LeaveJob::default()
        },
    };
    let me = node.cluster.self_id.clone();
    let n = node.n();
    let (ranges, share) = prediction(&view.read, &view.target, n, &me);
    let started = Instant::now();
    let start_sent = job.sent;
    tracing::info!(keys = job.total, "leaving: handing off local keys");
    loop {
        if token.is_cancelled() {
            return Ok(());
        }
        let now = node.cluster.view();
        if members_of(&now.read) != job.old || members_of(&now.target) != job.new {
            tracing::info!("the rings changed during the leave: starting over");
            return Ok(());
        }
        let page = node
            .replica
            .scan_moving(job.cursor.clone(), PAGE, PAGE, |_| true)
            .await?;
        let dead: HashSet<String> = job.old.iter().filter(|m| gone(&now, m)).cloned().collect();
        let mut batches: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        for (key, set) in &page.entries {
            let old = now.read.preference_list(key.as_bytes(), n);
            let new = now.target.preference_list(key.as_bytes(), n);
            if sender(&old, &new, &dead) != Some(&me) {
                continue;
            }
            for dest in new.iter().filter(|m| !old.contains(m)) {
                if let Some(m) = now.members.get(dest) {
                    batches
                        .entry(m.url.clone())
                        .or_default()
                        .push((key.clone(), set.clone()));
                }
            }
        }
        for (url, batch) in batches {
            if !send_batch(node, &url, &batch, token).await {
                return Ok(());
            }
        }
        job.sent += page.entries.len() as u64;
        job.cursor = page.cursor.clone();
        persist_leave(&path, &job).await;
        node.membership.set_movement(Some(Movement {
            kind: "leave".into(),
            keys_moved: job.sent,
            keys_total: Some(job.total.max(job.sent)),
            bytes_moved: 0,
            ranges,
            predicted_share: share,
        }));
        if page.done {
            break;
        }
        throttle(node, job.sent - start_sent, started, token).await;
    }
    tracing::info!(
        keys = job.sent,
        secs = started.elapsed().as_secs_f64(),
        "handed off every key"
    );
    set_phase(node, Phase::Departing).await?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

async fn persist_leave(path: &std::path::Path, job: &LeaveJob) {
    let (path, job) = (path.to_path_buf(), job.clone());
    let saved = tokio::task::spawn_blocking(move || crate::persist::write_json(&path, &job)).await;
    if let Ok(Err(e)) | Err(e) = saved.map_err(anyhow::Error::from) {
        tracing::error!("persisting the leave cursor failed: {e:#}");
    }
}

/// A member that was in the read ring is now departed without having handed off (forced
/// removal): the repair job this node must run, if it gains keys.
fn forced_removal(node: &Node, prev: &View, view: &View) -> Option<MoveJob> {
    let removed = prev.members.iter().any(|(id, m)| {
        m.phase.in_read() && view.departed.contains(id) && !prev.departed.contains(id)
    });
    if !removed {
        return None;
    }
    let job = MoveJob {
        kind: "repair".into(),
        old: members_of(&prev.read),
        new: members_of(&view.read),
        ..MoveJob::default()
    };
    let me = &node.cluster.self_id;
    let gains = prev
        .read
        .diff(&view.read, node.n())
        .iter()
        .any(|m| m.to == *me);
    gains.then_some(job)
}

/// Pulls what a forced removal gave this node; reads of those keys are "not ready" meanwhile.
async fn repair(node: &Arc<Node>, job: MoveJob, token: &CancellationToken) {
    let tokens = node.cluster.tokens_per_member;
    node.pending.store(Some(Arc::new(Pending {
        old: Ring::new(job.old.iter().cloned(), tokens),
        new: Ring::new(job.new.iter().cloned(), tokens),
        n: node.n(),
        me: node.cluster.self_id.clone(),
    })));
    save_job(node, Some(&job)).await;
    tracing::info!("a member was removed: pulling the keys this node now replicates");
    loop {
        match pull(node, job.clone(), token).await {
            Ok(()) => break,
            Err(Stop::Cancelled) => return,
            Err(Stop::Restart) => continue,
        }
    }
    node.pending.store(None);
    node.membership.set_movement(None);
    save_job(node, None).await;
}

/// Hands each key this node no longer replicates to its owners and drops it. Runs only when
/// every member agrees on the rings and none is moving; returns whether it went through.
async fn clean_up(node: &Arc<Node>, view: &Arc<View>, token: &CancellationToken) -> bool {
    let me = node.cluster.self_id.clone();
    let n = node.n();
    let mut cursor = None;
    let mut dropped = 0u64;
    loop {
        if token.is_cancelled() || node.cluster.view().phase_hash != view.phase_hash {
            return false;
        }
        let v = view.clone();
        let me2 = me.clone();
        let page = match node
            .replica
            .scan_moving(cursor.clone(), SCAN_BUDGET, PAGE, move |key| {
                !v.placement(key, n).writes.iter().any(|m| m.id == me2)
            })
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!("clean-up scan failed: {e}");
                return false;
            }
        };
        // Batched per owner: one request (and one fsync on its side) per owner and page.
        let mut batches: BTreeMap<String, Vec<(String, Vec<u8>)>> = BTreeMap::new();
        let mut handed = Vec::new();
        for (key, set) in page.entries {
            let owners = view.placement(&key, n).writes;
            if owners.is_empty() || owners.iter().any(|m| view.is_dead(&m.id)) {
                continue; // keep it until every owner can take it
            }
            for m in &owners {
                batches
                    .entry(m.url.clone())
                    .or_default()
                    .push((key.clone(), set.clone()));
            }
            handed.push((key, set));
        }
        let mut ok = true;
        for (url, batch) in &batches {
            ok &= node.rpc.merge_batch(url, batch).await.is_ok();
        }
        if !ok {
            return false;
        }
        for (key, set) in handed {
            if matches!(node.replica.drop_if_unchanged(&key, set).await, Ok(true)) {
                dropped += 1;
            }
        }
        if page.done {
            if dropped > 0 {
                tracing::info!(dropped, "dropped keys this node no longer replicates");
            }
            return true;
        }
        cursor = page.cursor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(old: &[&str], new: &[&str], target: &str, dead: &[&str]) -> MoveRequest {
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        MoveRequest {
            old: ids(old),
            new: ids(new),
            n: 3,
            tokens_per_member: 64,
            target: target.into(),
            dead: ids(dead),
            after: None,
            limit: 10,
        }
    }

    #[test]
    fn a_joiner_gets_each_key_it_gains_from_exactly_one_source() {
        let r = req(&["a", "b", "c", "d"], &["a", "b", "c", "d", "x"], "x", &[]);
        let sources: Vec<MoveFilter> = ["a", "b", "c", "d"]
            .iter()
            .map(|s| MoveFilter::new(&r, s))
            .collect();
        let new = Ring::new(r.new.clone(), 64);
        let mut gained = 0;
        for i in 0..2000 {
            let key = format!("k{i}");
            let senders = sources.iter().filter(|f| f.wants(&key)).count();
            let gains = new
                .preference_list(key.as_bytes(), 3)
                .contains(&"x".to_string());
            assert_eq!(senders, usize::from(gains), "{key}");
            gained += usize::from(gains);
        }
        assert!(gained > 900, "x replicates about 3/5 of the keys: {gained}");
    }

    #[test]
    fn a_dead_displaced_owner_is_replaced_by_a_live_one() {
        let r = req(&["a", "b", "c", "d"], &["a", "b", "c"], "a", &["d"]);
        let live: Vec<MoveFilter> = ["b", "c"].iter().map(|s| MoveFilter::new(&r, s)).collect();
        let dead_source = MoveFilter::new(&r, "d");
        let (old, new) = (Ring::new(r.old.clone(), 64), Ring::new(r.new.clone(), 64));
        for i in 0..2000 {
            let key = format!("k{i}");
            let gains = new
                .preference_list(key.as_bytes(), 3)
                .contains(&"a".to_string())
                && !old
                    .preference_list(key.as_bytes(), 3)
                    .contains(&"a".to_string());
            assert!(!dead_source.wants(&key));
            assert_eq!(
                live.iter().filter(|f| f.wants(&key)).count(),
                usize::from(gains)
            );
        }
    }
}
