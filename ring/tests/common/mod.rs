//! Shared harness for the ring's property tests: a deliberately naive ring model and the
//! generators the tests share.
//!
//! The model re-derives every token from the documented scheme (`xxh3_64(id || i as u64 LE)`)
//! with `xxhash-rust` directly, sorts all virtual nodes, and answers every lookup by a linear
//! scan: nothing in it is shared with the crate's binary search, walk or bitset.

#![allow(dead_code)] // Each test binary uses part of the harness.

use proptest::prelude::*;
use ringkv_ring::Token;
use xxhash_rust::xxh3::xxh3_64;

/// All virtual nodes `(token, member)`, sorted, one per token (smallest id wins a collision).
pub struct NaiveRing {
    pub vnodes: Vec<(Token, String)>,
}

impl NaiveRing {
    pub fn new(ids: &[String], tokens_per_member: usize) -> NaiveRing {
        let mut vnodes = Vec::new();
        let mut seen = Vec::new();
        for id in ids {
            if seen.contains(id) {
                continue;
            }
            seen.push(id.clone());
            for i in 0..tokens_per_member.max(1) as u64 {
                let mut bytes = id.as_bytes().to_vec();
                bytes.extend_from_slice(&i.to_le_bytes());
                vnodes.push((xxh3_64(&bytes), id.clone()));
            }
        }
        vnodes.sort();
        vnodes.dedup_by(|later, earlier| later.0 == earlier.0);
        NaiveRing { vnodes }
    }

    /// Every distinct member in walk order from `token`: scan for the first token `>= token`
    /// (or wrap to 0), then go once around.
    pub fn walk(&self, token: Token) -> Vec<String> {
        let len = self.vnodes.len();
        let mut start = 0;
        while start < len && self.vnodes[start].0 < token {
            start += 1;
        }
        let mut out: Vec<String> = Vec::new();
        for step in 0..len {
            let id = &self.vnodes[(start + step) % len].1;
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        out
    }

    pub fn preference_list(&self, token: Token, n: usize) -> Vec<String> {
        self.walk(token).into_iter().take(n).collect()
    }
}

/// Member ids: short, often sharing prefixes, sometimes repeated (to exercise deduplication).
pub fn member_ids(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-c]{0,2}[0-9]{1,2}", 0..=max)
}

/// Distinct member ids `10.0.0.i:7000`-like addresses, the shape real deployments use.
pub fn addresses(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .map(|i| format!("10.0.{}.{}:7000", i / 256, i % 256))
        .collect()
}

/// Each member's fraction of the hash space owned as primary, computed from the vnodes alone:
/// virtual node `i` owns `(token[i - 1], token[i]]`, wrapping.
pub fn primary_shares(ring: &ringkv_ring::Ring) -> Vec<(String, f64)> {
    let vnodes: Vec<(u64, &str)> = ring.vnodes().collect();
    let mut shares: Vec<(String, f64)> = ring.members().iter().map(|m| (m.clone(), 0.0)).collect();
    for (i, &(token, owner)) in vnodes.iter().enumerate() {
        let prev = vnodes[(i + vnodes.len() - 1) % vnodes.len()].0;
        let width = token.wrapping_sub(prev) as f64 / 2f64.powi(64);
        let width = if vnodes.len() == 1 { 1.0 } else { width };
        let slot = shares
            .iter_mut()
            .find(|(m, _)| m == owner)
            .expect("owner is a member");
        slot.1 += width;
    }
    shares
}

/// Each member's fraction of `keys` sampled keys (`sample-key-{i}`) it is primary for.
pub fn sampled_shares(ring: &ringkv_ring::Ring, keys: usize) -> Vec<(String, f64)> {
    let mut counts: Vec<(String, usize)> = ring.members().iter().map(|m| (m.clone(), 0)).collect();
    for i in 0..keys {
        let primary = ring.preference_list(format!("sample-key-{i}").as_bytes(), 1);
        counts
            .iter_mut()
            .find(|(m, _)| *m == primary[0])
            .expect("a member")
            .1 += 1;
    }
    counts
        .into_iter()
        .map(|(m, c)| (m, c as f64 / keys as f64))
        .collect()
}

/// Most loaded share over the mean share.
pub fn imbalance(shares: &[(String, f64)]) -> f64 {
    let mean = shares.iter().map(|s| s.1).sum::<f64>() / shares.len() as f64;
    shares.iter().map(|s| s.1).fold(0.0, f64::max) / mean
}
