//! Leaving the cluster (`DELETE /peers/{id}` on the leaving member): hand every local version
//! set to the key's replicas in the ring without this node, then record the departure and
//! tell the other members.
//!
//! Invariants: the departure is announced only after every set was acknowledged by every new
//! owner, so a failed handoff leaves the membership unchanged (the caller gets a 503 and may
//! retry; merges are idempotent). Writes that reach this node during the handoff were also
//! sent to the key's other replicas (W of N), so they are not lost with it. After leaving, the
//! node still answers requests as a coordinator but holds no replicas; to come back it must
//! start afresh (a new data dir, hence a new node id).

use std::collections::BTreeMap;

use futures::future::join_all;
use ringkv_ring::Ring;

use crate::node::Node;

/// Keys handed off per storage page.
const PAGE: usize = 256;

/// Sends every local set to its owners in the ring without this node; returns how many keys
/// were handed off.
pub async fn hand_off(node: &Node) -> Result<usize, String> {
    let mut owners: BTreeMap<String, String> = node.cluster.view().members.clone();
    owners.remove(&node.cluster.self_id);
    let next = Ring::new(owners.keys().cloned(), node.config.tokens_per_member);
    let n = node.n();
    let (owners, next) = (&owners, &next);
    let mut after = None;
    let mut moved = 0;
    loop {
        let page = node
            .replica
            .scan("", after.clone(), PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let mut sends = Vec::new();
        for (key, set) in &page {
            let encoded = set.encode();
            for id in next.preference_list(key.as_bytes(), n) {
                if let Some(url) = owners.get(&id) {
                    let encoded = encoded.clone();
                    sends.push(async move { node.rpc.merge(url, key, &encoded).await });
                }
            }
        }
        let results = join_all(sends).await;
        if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
            return Err(format!("handing off to a new owner failed: {e}"));
        }
        moved += page.len();
        match page.last() {
            Some((last, _)) if page.len() == PAGE => after = Some(last.clone()),
            _ => return Ok(moved),
        }
    }
}
