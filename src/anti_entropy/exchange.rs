//! The exchange worker, and the answers a node gives to a peer's exchange.
//!
//! Every `anti_entropy.interval_ms` (±10% jitter), and at once when the read ring changes (a
//! full exchange of every range it touched: all of them, since a round with equal replicas
//! costs one root each), this node walks every peer it shares keys with and whose id sorts
//! after its own (one exchange repairs both sides, so each pair has one initiator; the other
//! learns the pair is equal from the root the initiator sends):
//!
//! 1. `POST /internal/ae/tree` level 0: the peer's root of the shared region. Equal: done.
//! 2. One request per level, for the children of the nodes that differed (fan-out 16).
//! 3. `POST /internal/ae/keys`: `(key, digest)` of the differing leaves, both sides.
//! 4. Confirmation: a difference may be a write in flight, so the listing is taken again after
//!    a short pause and only keys differing in both listings are repaired.
//! 5. Repair, both ways and by merge only: the peer's sets are read (`/internal/reads`) and
//!    merged here; this node's merged sets that differ from the peer's are merged there
//!    (`/internal/merge-batch`). Paced to `anti_entropy.repair_rate_keys_per_sec`.
//!
//! After each round, tombstones are collected ([`collect`]): a tombstone-only set whose latest
//! tombstone is older than the *watermark* minus `tombstone_grace_ms`, where the watermark is
//! the earliest, over every peer sharing keys with this node, start of the last exchange that
//! found the shared region equal. A peer that is down keeps the watermark back, so a delete it
//! missed is never collected before it has it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::tree::{self, Cover, Region, Tree};
use super::{Digests, INDEX_PREFIX, TOMB_PREFIX, digest_of, parse_digest, split_key};
use crate::cluster::{Liveness, View};
use crate::node::Node;
use crate::replica::now_ms;
use crate::rpc::wire::{ReadAnswer, Want};

/// Leaves per listing request, and keys per repair batch.
const LEAVES_PER_LISTING: usize = 256;
const REPAIR_BATCH: usize = 256;
/// Tombstones collected per round at most.
const COLLECT_PER_ROUND: usize = 10_000;

/// A request for tree digests: level `level` children of `parents` (level 0: the root).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TreeRequest {
    pub from: String,
    pub ring: u64,
    pub n: usize,
    pub buckets: usize,
    pub level: usize,
    pub parents: Vec<u32>,
    /// With level 0: the caller's root, so that this side too learns when the pair is equal.
    #[serde(default)]
    pub root: Option<u64>,
}

/// A request for the `(key, digest)` listing of leaves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeysRequest {
    pub from: String,
    pub ring: u64,
    pub n: usize,
    pub buckets: usize,
    pub leaves: Vec<u32>,
}

/// Anti-entropy's state on one node. Shared as `Arc<AntiEntropy>`.
pub struct AntiEntropy {
    pub digests: Arc<Digests>,
    /// Per peer: start (ms) of the last exchange that found the shared region equal.
    last_equal: Mutex<BTreeMap<String, u64>>,
    /// Tombstones older than this minus the grace may be collected (ms; 0 before a round).
    watermark: AtomicU64,
    /// Regions by (ring fingerprint, n, peer): a region costs a few ms to compute.
    regions: Mutex<HashMap<(u64, usize, String), Arc<Region>>>,
}

impl AntiEntropy {
    pub fn new(digests: Arc<Digests>) -> AntiEntropy {
        AntiEntropy {
            digests,
            last_equal: Mutex::new(BTreeMap::new()),
            watermark: AtomicU64::new(0),
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The region this node shares with `peer` in `view`'s read ring.
    fn region(&self, view: &View, n: usize, me: &str, peer: &str) -> Arc<Region> {
        let id = (fingerprint(view), n, peer.to_string());
        let mut regions = self.regions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(r) = regions.get(&id) {
            return r.clone();
        }
        regions.retain(|k, _| k.0 == id.0);
        let r = Arc::new(Region::shared(&view.read, n, me, peer));
        regions.insert(id, r.clone());
        r
    }

    /// An exchange with `peer` that started at `started_ms` found the shared region equal.
    fn saw_equal(&self, peer: &str, started_ms: u64) {
        let mut last = self.last_equal.lock().unwrap_or_else(|p| p.into_inner());
        let at = last.entry(peer.to_string()).or_default();
        *at = (*at).max(started_ms);
    }

    /// The tombstone watermark now (ms).
    pub fn watermark(&self) -> u64 {
        self.watermark.load(Ordering::Relaxed)
    }
}

/// What identifies a read ring: equal on two nodes when they place keys alike.
pub fn fingerprint(view: &View) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for m in view.read.members() {
        h.update(m.as_bytes());
        h.update(&[0]);
    }
    h.update(&(view.read.tokens_per_member() as u64).to_be_bytes());
    h.digest()
}

/// Why an answer to a peer was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("the peer's ring or replication factor differs from this node's; retry later")]
    Mismatch,
    #[error("storage: {0}")]
    Storage(String),
}

fn check(node: &Node, ring: u64, n: usize) -> Result<Arc<View>, AnswerError> {
    let view = node.cluster.view();
    if fingerprint(&view) != ring || node.n() != n || view.in_transition() {
        return Err(AnswerError::Mismatch);
    }
    Ok(view)
}

/// This node's tree of the region shared with `peer` (blocking: partial cells are scanned).
fn local_tree(node: &Node, region: &Region, buckets: usize) -> Result<Tree, AnswerError> {
    let db = node.replica.db();
    let digests = &node.anti_entropy.digests;
    let mut failed = None;
    let tree = Tree::build(region, buckets, |c| match region.cover(c) {
        Cover::In => digests.cell(c),
        Cover::Out => 0,
        Cover::Partial => {
            let (lo, hi) = tree::cell_tokens(c);
            match scan_index(db, region, lo, hi) {
                Ok(entries) => entries.iter().fold(0, |a, (_, d)| a ^ d),
                Err(e) => {
                    failed = Some(e);
                    0
                }
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(tree),
    }
}

/// `(key, digest)` of the index entries with tokens in `lo..=hi` that `region` holds.
fn scan_index(
    db: &ringkv_storage::Db,
    region: &Region,
    lo: u64,
    hi: u64,
) -> Result<Vec<(String, u64)>, AnswerError> {
    use std::ops::Bound;
    let from = Bound::Included([INDEX_PREFIX, &lo.to_be_bytes()].concat());
    let to = match hi.checked_add(1) {
        Some(next) => Bound::Excluded([INDEX_PREFIX, &next.to_be_bytes()].concat()),
        None => {
            ringkv_storage::prefix_successor(INDEX_PREFIX).map_or(Bound::Unbounded, Bound::Excluded)
        }
    };
    let mut out = Vec::new();
    let scan = db
        .scan(from, to)
        .map_err(|e| AnswerError::Storage(e.to_string()))?;
    for entry in scan {
        let (k, v) = entry.map_err(|e| AnswerError::Storage(e.to_string()))?;
        if let (Some((token, key)), Some(d)) = (split_key(INDEX_PREFIX, &k), parse_digest(&v))
            && region.contains(token)
        {
            out.push((key, d));
        }
    }
    Ok(out)
}

/// The listing of `leaves` of `buckets` in `region` (blocking).
fn local_listing(
    node: &Node,
    region: &Region,
    buckets: usize,
    leaves: &[u32],
) -> Result<Vec<(String, u64)>, AnswerError> {
    let buckets = buckets.clamp(1, tree::CELLS);
    let mut out = Vec::new();
    for &leaf in leaves {
        let cells = tree::cells_of_bucket(leaf as usize, buckets);
        if cells.is_empty() {
            continue;
        }
        let lo = tree::cell_tokens(cells.start).0;
        let hi = tree::cell_tokens(cells.end - 1).1;
        out.extend(scan_index(node.replica.db(), region, lo, hi)?);
    }
    Ok(out)
}

/// Answers `POST /internal/ae/tree`: digests, 8 bytes big-endian each.
pub async fn answer_tree(node: Arc<Node>, req: TreeRequest) -> Result<Vec<u8>, AnswerError> {
    let view = check(&node, req.ring, req.n)?;
    let region = node
        .anti_entropy
        .region(&view, req.n, &node.cluster.self_id, &req.from);
    tokio::task::spawn_blocking(move || {
        let started = now_ms();
        let tree = local_tree(&node, &region, req.buckets)?;
        if req.level == 0 && req.root == Some(tree.root()) {
            node.anti_entropy.saw_equal(&req.from, started);
            node.metrics.anti_entropy.full_exchange(&req.from, now_ms());
        }
        let digests = tree.children(req.level, &req.parents);
        Ok(digests.iter().flat_map(|d| d.to_be_bytes()).collect())
    })
    .await
    .map_err(|e| AnswerError::Storage(e.to_string()))?
}

/// Answers `POST /internal/ae/keys`: the listing, as [`encode_listing`].
pub async fn answer_keys(node: Arc<Node>, req: KeysRequest) -> Result<Vec<u8>, AnswerError> {
    let view = check(&node, req.ring, req.n)?;
    let region = node
        .anti_entropy
        .region(&view, req.n, &node.cluster.self_id, &req.from);
    tokio::task::spawn_blocking(move || {
        let listing = local_listing(&node, &region, req.buckets, &req.leaves)?;
        Ok(encode_listing(&listing))
    })
    .await
    .map_err(|e| AnswerError::Storage(e.to_string()))?
}

/// ```text
/// repeated: key length u32 BE | key (UTF-8) | digest u64 BE
/// ```
pub fn encode_listing(entries: &[(String, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|(k, _)| k.len() + 12).sum());
    for (key, d) in entries {
        out.extend_from_slice(&(key.len() as u32).to_be_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&d.to_be_bytes());
    }
    out
}

/// Decodes [`encode_listing`]; `None` when truncated or not UTF-8.
pub fn decode_listing(bytes: &[u8]) -> Option<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        let (key, tail) = tail.split_at_checked(len)?;
        let (d, tail) = tail.split_at_checked(8)?;
        out.push((
            std::str::from_utf8(key).ok()?.to_string(),
            u64::from_be_bytes(d.try_into().ok()?),
        ));
        rest = tail;
    }
    Some(out)
}

/// Decodes a tree answer; `None` when its length is not a multiple of 8.
pub fn decode_digests(bytes: &[u8]) -> Option<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
            .collect(),
    )
}

/// How an exchange with one peer ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// Roots equal: the shared region agrees.
    Equal,
    /// Differences found; this many keys were repaired (0: not confirmed).
    Repaired(u64),
}

/// The worker.
pub async fn run(node: Arc<Node>, token: CancellationToken) {
    let mut changes = node.membership.changes();
    loop {
        round(&node, &token).await;
        if token.is_cancelled() {
            return;
        }
        collect(&node).await;
        let interval = node
            .cluster
            .settings()
            .settings
            .anti_entropy
            .interval_ms
            .max(1);
        let jitter = 0.9 + 0.2 * (rand::random::<u32>() as f64 / u32::MAX as f64);
        let until = tokio::time::Instant::now() + Duration::from_millis(interval).mul_f64(jitter);
        let ring = fingerprint(&node.cluster.view());
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep_until(until) => break,
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if fingerprint(&node.cluster.view()) != ring {
                        tracing::info!("ring changed: full anti-entropy exchange");
                        break;
                    }
                }
            }
        }
    }
}

/// One exchange with every peer sharing keys with this node, then the new watermark.
async fn round(node: &Arc<Node>, token: &CancellationToken) {
    let view = node.cluster.view();
    if view.in_transition() {
        // Data movement owns a ring change in progress; the change's end triggers a round.
        return;
    }
    let round_start = now_ms();
    let n = node.n();
    let me = node.cluster.self_id.clone();
    let ae = &node.anti_entropy;
    let mut shared = Vec::new();
    for peer in view.read.members().iter().filter(|p| **p != me) {
        if token.is_cancelled() {
            return;
        }
        let region = ae.region(&view, n, &me, peer);
        if region.is_empty() {
            continue;
        }
        shared.push(peer.clone());
        // One exchange repairs both sides: of each pair, the member with the smaller id starts
        // it, so a replica coming back is not repaired twice over by both of its peers.
        if me > *peer {
            continue;
        }
        let Some(member) = view.members.get(peer) else {
            continue;
        };
        if member.liveness == Liveness::Dead {
            continue;
        }
        let started = now_ms();
        let m = &node.metrics.anti_entropy;
        match exchange(node, &view, &member.url, &region, token).await {
            Ok(Outcome::Equal) => {
                m.exchange("equal");
                m.full_exchange(peer, now_ms());
                ae.saw_equal(peer, started);
            }
            Ok(Outcome::Repaired(keys)) => {
                m.exchange("repaired");
                if keys > 0 {
                    tracing::info!(%peer, keys, "anti-entropy repaired keys");
                }
            }
            Err(e) => {
                m.exchange("failed");
                tracing::debug!(%peer, "anti-entropy exchange failed: {e}");
            }
        }
    }
    let last = ae.last_equal.lock().unwrap_or_else(|p| p.into_inner());
    let watermark = shared
        .iter()
        .map(|p| last.get(p).copied().unwrap_or(0))
        .min()
        .unwrap_or(round_start);
    ae.watermark.store(watermark, Ordering::Relaxed);
}

/// Counts an RPC's bytes.
fn count(node: &Node, kind: &str, sent: usize, received: usize) {
    node.metrics
        .anti_entropy
        .bytes(kind, sent as u64, received as u64);
}

async fn blocking<T: Send + 'static>(
    node: &Arc<Node>,
    f: impl FnOnce(&Node) -> Result<T, AnswerError> + Send + 'static,
) -> Result<T, String> {
    let node = node.clone();
    tokio::task::spawn_blocking(move || f(&node))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// One exchange with `peer` (see the module docs).
async fn exchange(
    node: &Arc<Node>,
    view: &View,
    url: &str,
    region: &Arc<Region>,
    token: &CancellationToken,
) -> Result<Outcome, String> {
    let settings = node.cluster.settings().settings.anti_entropy;
    let buckets = settings.buckets.clamp(1, tree::CELLS);
    let ring = fingerprint(view);
    let n = node.n();
    let me = node.cluster.self_id.clone();
    let r = region.clone();
    let mine = blocking(node, move |node| local_tree(node, &r, buckets)).await?;
    let mut parents: Vec<u32> = Vec::new();
    for level in 0..=mine.depth() {
        let req = TreeRequest {
            from: me.clone(),
            ring,
            n,
            buckets,
            level,
            parents: parents.clone(),
            root: (level == 0).then(|| mine.root()),
        };
        let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
        let answer = node
            .rpc
            .post_bytes(&format!("{url}/internal/ae/tree"), body.clone(), true)
            .await
            .map_err(|e| e.to_string())?;
        count(node, "tree", body.len(), answer.len());
        let theirs = decode_digests(&answer).ok_or("undecodable tree answer")?;
        node.metrics.anti_entropy.compared(theirs.len() as u64);
        parents = mine
            .differing(level, &parents, &theirs)
            .ok_or("tree answer of the wrong shape")?;
        if parents.is_empty() {
            return Ok(Outcome::Equal);
        }
    }
    let leaves = parents;
    let first = differing_keys(node, url, region, ring, buckets, &leaves).await?;
    if first.is_empty() || token.is_cancelled() {
        return Ok(Outcome::Repaired(0));
    }
    // A difference seen once may be a write in flight: look again before repairing.
    let pause = Duration::from_millis((settings.interval_ms / 10).clamp(20, 500));
    tokio::select! {
        () = token.cancelled() => return Ok(Outcome::Repaired(0)),
        () = tokio::time::sleep(pause) => {}
    }
    let again_leaves: Vec<u32> = {
        let mut l: Vec<u32> = first
            .keys()
            .map(|k| {
                let t = ringkv_ring::key_token(k.as_bytes());
                tree::bucket_of_cell(tree::cell_of(t), buckets) as u32
            })
            .collect();
        l.sort_unstable();
        l.dedup();
        l
    };
    let again = differing_keys(node, url, region, ring, buckets, &again_leaves).await?;
    let confirmed: Vec<(String, bool)> = first
        .into_iter()
        .filter(|(k, _)| again.contains_key(k))
        .map(|(k, _)| {
            let theirs = again.get(&k).copied().unwrap_or(false);
            (k, theirs)
        })
        .collect();
    let repaired = repair(node, url, confirmed, token).await?;
    Ok(Outcome::Repaired(repaired))
}

/// Keys of `leaves` whose digests differ between here and the peer; the value says whether
/// the peer lists the key.
async fn differing_keys(
    node: &Arc<Node>,
    url: &str,
    region: &Arc<Region>,
    ring: u64,
    buckets: usize,
    leaves: &[u32],
) -> Result<BTreeMap<String, bool>, String> {
    let mut out = BTreeMap::new();
    for chunk in leaves.chunks(LEAVES_PER_LISTING) {
        let req = KeysRequest {
            from: node.cluster.self_id.clone(),
            ring,
            n: node.n(),
            buckets,
            leaves: chunk.to_vec(),
        };
        let body = serde_json::to_vec(&req).map_err(|e| e.to_string())?;
        let answer = node
            .rpc
            .post_bytes(&format!("{url}/internal/ae/keys"), body.clone(), true)
            .await
            .map_err(|e| e.to_string())?;
        count(node, "keys", body.len(), answer.len());
        let theirs: HashMap<String, u64> = decode_listing(&answer)
            .ok_or("undecodable key listing")?
            .into_iter()
            .collect();
        let (r, leaves) = (region.clone(), chunk.to_vec());
        let mine: HashMap<String, u64> =
            blocking(node, move |node| local_listing(node, &r, buckets, &leaves))
                .await?
                .into_iter()
                .collect();
        for (k, d) in &mine {
            if theirs.get(k) != Some(d) {
                out.insert(k.clone(), theirs.contains_key(k));
            }
        }
        for k in theirs.keys() {
            if !mine.contains_key(k) {
                out.insert(k.clone(), true);
            }
        }
    }
    Ok(out)
}

/// Merges the confirmed keys both ways; returns how many keys changed on either side.
async fn repair(
    node: &Arc<Node>,
    url: &str,
    keys: Vec<(String, bool)>,
    token: &CancellationToken,
) -> Result<u64, String> {
    let started = Instant::now();
    let mut repaired = 0u64;
    for chunk in keys.chunks(REPAIR_BATCH) {
        if token.is_cancelled() {
            break;
        }
        let limits = node.cluster.settings().settings.versioning.limits();
        // Also the keys the peer does not list: it may hold a tombstone for them (not indexed),
        // which must win here rather than be overwritten there by a push of the old value.
        let wanted: Vec<(String, Want)> =
            chunk.iter().map(|(k, _)| (k.clone(), Want::Set)).collect();
        let mut theirs: HashMap<String, Vec<u8>> = HashMap::new();
        if !wanted.is_empty() {
            let answers = node
                .rpc
                .reads(url, &wanted)
                .await
                .map_err(|e| e.to_string())?;
            let sent: usize = wanted.iter().map(|(k, _)| k.len() + 5).sum();
            let mut received = 0;
            let mut pulled = Vec::new();
            for ((key, _), answer) in wanted.iter().zip(answers) {
                if let ReadAnswer::Set(set) = answer {
                    let bytes = set.encode();
                    received += bytes.len() + 5;
                    theirs.insert(key.clone(), bytes);
                    pulled.push((key.clone(), set));
                }
            }
            count(node, "data", sent, received);
            let merged = node
                .replica
                .merge_each(pulled.clone(), limits)
                .await
                .map_err(|e| e.to_string())?;
            repaired += merged
                .iter()
                .filter(|m| !m.covered || !m.prior_live)
                .count() as u64;
        }
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.as_str()).collect();
        let ours = node
            .replica
            .read_raw_now(&keys)
            .map_err(|e| e.to_string())?;
        let mut push = Vec::new();
        for (key, bytes) in keys.iter().zip(ours) {
            let Some(bytes) = bytes else { continue };
            if theirs.get(*key) != Some(&bytes) {
                push.push((key.to_string(), bytes));
            }
        }
        if !push.is_empty() {
            let sent: usize = push.iter().map(|(k, s)| k.len() + s.len() + 8).sum();
            node.rpc
                .merge_batch(url, &push)
                .await
                .map_err(|e| e.to_string())?;
            count(node, "data", sent, 0);
            repaired += push.len() as u64;
        }
        node.metrics.anti_entropy.repaired(chunk.len() as u64);
        let rate = node
            .cluster
            .settings()
            .settings
            .anti_entropy
            .repair_rate_keys_per_sec;
        let done = (repaired.max(1)) as f64;
        let due = Duration::from_secs_f64(done / rate.max(1) as f64);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
    Ok(repaired)
}

/// Drops tombstone-only sets that every replica was seen to hold (see the module docs).
async fn collect(node: &Arc<Node>) {
    let watermark = node.anti_entropy.watermark();
    let before = watermark.saturating_sub(node.config.tombstone_grace_ms);
    if before == 0 {
        return;
    }
    let found = blocking(node, move |node| {
        use std::ops::Bound;
        let from = Bound::Included(TOMB_PREFIX.to_vec());
        let to = Bound::Excluded([TOMB_PREFIX, &before.to_be_bytes()].concat());
        let mut out = Vec::new();
        let scan = node
            .replica
            .db()
            .scan(from, to)
            .map_err(|e| AnswerError::Storage(e.to_string()))?;
        for entry in scan.take(COLLECT_PER_ROUND) {
            let (k, _) = entry.map_err(|e| AnswerError::Storage(e.to_string()))?;
            if let Some((_, key)) = split_key(TOMB_PREFIX, &k) {
                out.push(key);
            }
        }
        Ok(out)
    })
    .await;
    let keys = match found {
        Ok(keys) => keys,
        Err(e) => {
            tracing::warn!("tombstone collection scan failed: {e}");
            return;
        }
    };
    let mut collected = 0;
    for key in keys {
        let Ok(mut stored) = node.replica.read_raw_now(&[&key]) else {
            continue;
        };
        let Some(Some(bytes)) = stored.pop() else {
            continue;
        };
        if digest_of(&bytes) != 0 {
            continue;
        }
        if let Ok(true) = node.replica.drop_if_unchanged(&key, bytes).await {
            collected += 1;
        }
    }
    if collected > 0 {
        node.metrics.anti_entropy.collected(collected);
        tracing::debug!(collected, "tombstones collected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_round_trip_and_truncation_is_an_error() {
        let entries = vec![("a".to_string(), 1u64), ("ключ".to_string(), u64::MAX)];
        let bytes = encode_listing(&entries);
        assert_eq!(decode_listing(&bytes).unwrap(), entries);
        for cut in 1..bytes.len() {
            if cut != 13 {
                assert!(decode_listing(&bytes[..cut]).is_none(), "cut at {cut}");
            }
        }
        assert!(decode_digests(&[0; 7]).is_none());
        assert_eq!(decode_digests(&[0; 16]).unwrap(), [0, 0]);
    }
}
