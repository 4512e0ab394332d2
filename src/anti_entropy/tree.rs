//! The pure part of anti-entropy: which share of the ring two members hold in common, the
//! Merkle tree of one such share, and the comparison of two trees. No storage, no I/O.
//!
//! ```text
//!  ring hash space 0..=u64::MAX
//!  |-- cell 0 --|-- cell 1 --| ... |-- cell 65535 --|     CELLS fixed cells: token >> 48
//!  |---- bucket 0 ----|---- bucket 1 ----| ...            `buckets` leaves: contiguous cells
//!                 root                                    FANOUT children per inner node
//! ```
//!
//! Invariants:
//! - A cell's digest is the XOR of `digest(key, set)` over the keys whose token falls in it, so
//!   a write updates one cell in O(1) and cells never move: a ring change or a bucket-count
//!   change re-derives trees from the same cells, with no rebuild.
//! - The tree two members compare covers exactly the keys both replicate ([`Region`]): cells
//!   wholly inside contribute their digest, cells wholly outside nothing, and the few cells cut
//!   by a token boundary ([`Cover::Partial`]) the XOR of their shared keys only (computed by
//!   the caller from the index). Equal replicas therefore have equal roots.
//! - An inner node is the XOR of its children (TicTac AAE), so any level is computed from the
//!   leaves in one pass.

use std::ops::Range;

use ringkv_ring::Ring;

/// Bits of the token that pick a cell.
pub const CELL_BITS: u32 = 16;
/// Fixed cells of the hash space (the finest granularity digests are kept at).
pub const CELLS: usize = 1 << CELL_BITS;
/// Children of an inner node.
pub const FANOUT: usize = 16;

/// The cell of a token.
pub fn cell_of(token: u64) -> usize {
    (token >> (64 - CELL_BITS)) as usize
}

/// The bucket (leaf) a cell belongs to, for `buckets` leaves (`1..=CELLS`).
pub fn bucket_of_cell(cell: usize, buckets: usize) -> usize {
    cell * buckets / CELLS
}

/// The cells of bucket `bucket` of `buckets`: `[ceil(b*C/B), ceil((b+1)*C/B))`.
pub fn cells_of_bucket(bucket: usize, buckets: usize) -> Range<usize> {
    let lo = (bucket * CELLS).div_ceil(buckets);
    let hi = ((bucket + 1) * CELLS).div_ceil(buckets);
    lo..hi.min(CELLS)
}

/// The first token of a cell, and the last one.
pub fn cell_tokens(cell: usize) -> (u64, u64) {
    let lo = (cell as u64) << (64 - CELL_BITS);
    (lo, lo | (u64::MAX >> CELL_BITS))
}

/// How much of a cell two members share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cover {
    Out,
    In,
    Partial,
}

/// The part of the ring whose keys two members both replicate (their preference lists of `n`
/// in `ring` hold both).
#[derive(Debug, Clone)]
pub struct Region {
    /// `(last token of the arc, shared)` per vnode, in ring order: the arc `(previous, last]`.
    arcs: Vec<(u64, bool)>,
    cover: Vec<Cover>,
}

impl Region {
    pub fn shared(ring: &Ring, n: usize, a: &str, b: &str) -> Region {
        let arcs: Vec<(u64, bool)> = ring
            .vnodes()
            .map(|(token, _)| {
                let list = ring.preference_list_at(token, n);
                (
                    token,
                    list.iter().any(|m| m == a) && list.iter().any(|m| m == b),
                )
            })
            .collect();
        let mut region = Region {
            arcs,
            cover: Vec::new(),
        };
        region.cover = (0..CELLS).map(|c| region.cover_of(c)).collect();
        region
    }

    /// Whether a key at `token` is shared.
    pub fn contains(&self, token: u64) -> bool {
        if self.arcs.is_empty() {
            return false;
        }
        let i = self.arcs.partition_point(|(end, _)| *end < token);
        self.arcs[i % self.arcs.len()].1
    }

    fn cover_of(&self, cell: usize) -> Cover {
        let (lo, hi) = cell_tokens(cell);
        let first = self.contains(lo);
        // Arc ends inside the cell (before its last token) start a new arc at `end + 1`.
        let from = self.arcs.partition_point(|(end, _)| *end < lo);
        let to = self.arcs.partition_point(|(end, _)| *end < hi);
        let cut = self.arcs[from..to]
            .iter()
            .any(|(end, _)| self.contains(end.wrapping_add(1)) != first);
        match (cut, first) {
            (true, _) => Cover::Partial,
            (false, true) => Cover::In,
            (false, false) => Cover::Out,
        }
    }

    /// How much of `cell` is shared.
    pub fn cover(&self, cell: usize) -> Cover {
        self.cover.get(cell).copied().unwrap_or(Cover::Out)
    }

    /// True when the two members share no key at all.
    pub fn is_empty(&self) -> bool {
        self.cover.iter().all(|c| *c == Cover::Out)
    }
}

/// A Merkle tree over `buckets` leaves: `levels[0]` is `[root]`, the last level the leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<u64>>,
}

impl Tree {
    /// The tree of a region from its cell digests: `cell(c)` is the shared digest of cell `c`
    /// (called only for cells not [`Cover::Out`]).
    pub fn build(region: &Region, buckets: usize, mut cell: impl FnMut(usize) -> u64) -> Tree {
        let buckets = buckets.clamp(1, CELLS);
        let mut leaves = vec![0u64; buckets];
        for c in 0..CELLS {
            if region.cover(c) != Cover::Out {
                leaves[bucket_of_cell(c, buckets)] ^= cell(c);
            }
        }
        Tree::from_leaves(leaves)
    }

    pub fn from_leaves(leaves: Vec<u64>) -> Tree {
        let mut levels = vec![leaves];
        while levels[0].len() > 1 {
            let parents = levels[0]
                .chunks(FANOUT)
                .map(|c| c.iter().fold(0, |a, d| a ^ d))
                .collect();
            levels.insert(0, parents);
        }
        Tree { levels }
    }

    pub fn root(&self) -> u64 {
        self.levels[0][0]
    }

    /// Levels below the root (0 for a single leaf).
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// The digests at `level` of the children of `parents` (indices at `level - 1`), in
    /// order; `level` 0 is the root. Unknown indices give nothing.
    pub fn children(&self, level: usize, parents: &[u32]) -> Vec<u64> {
        let Some(nodes) = self.levels.get(level) else {
            return Vec::new();
        };
        if level == 0 {
            return nodes.clone();
        }
        parents
            .iter()
            .flat_map(|&p| child_range(p as usize, nodes.len()))
            .map(|i| nodes[i])
            .collect()
    }

    /// The children of `parents` at `level` whose digests differ from `theirs` (as answered by
    /// [`Tree::children`] on the other side). `None` when the answer has the wrong length.
    pub fn differing(&self, level: usize, parents: &[u32], theirs: &[u64]) -> Option<Vec<u32>> {
        let nodes = self.levels.get(level)?;
        let indices: Vec<usize> = if level == 0 {
            (0..nodes.len()).collect()
        } else {
            parents
                .iter()
                .flat_map(|&p| child_range(p as usize, nodes.len()))
                .collect()
        };
        if indices.len() != theirs.len() {
            return None;
        }
        Some(
            indices
                .into_iter()
                .zip(theirs)
                .filter(|(i, d)| nodes[*i] != **d)
                .map(|(i, _)| i as u32)
                .collect(),
        )
    }
}

fn child_range(parent: usize, len: usize) -> Range<usize> {
    (parent * FANOUT).min(len)..((parent + 1) * FANOUT).min(len)
}

/// Walks two trees from the root down to the differing leaves, as an exchange does with one
/// request per level (here both trees are local: the model the exchange is tested against).
pub fn differing_leaves(mine: &Tree, theirs: &Tree) -> Vec<u32> {
    if mine.depth() != theirs.depth() {
        return (0..mine.levels.last().map_or(0, Vec::len) as u32).collect();
    }
    let mut parents = Vec::new();
    for level in 0..=mine.depth() {
        let answer = theirs.children(level, &parents);
        parents = mine.differing(level, &parents, &answer).unwrap_or_default();
        if parents.is_empty() {
            break;
        }
    }
    parents
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_partition_the_cells() {
        for buckets in [1, 3, 1000, 1024, CELLS] {
            let mut next = 0;
            for b in 0..buckets {
                let r = cells_of_bucket(b, buckets);
                assert_eq!(r.start, next, "{buckets}: bucket {b}");
                for c in r.clone() {
                    assert_eq!(bucket_of_cell(c, buckets), b);
                }
                next = r.end;
            }
            assert_eq!(next, CELLS);
        }
    }

    #[test]
    fn any_bucket_count_is_derived_from_the_same_cells() {
        let region = Region::shared(&Ring::new(["a", "b", "c"], 8), 3, "a", "b");
        let cells: Vec<u64> = (0..CELLS as u64)
            .map(|c| c.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            .collect();
        let roots: Vec<u64> = [1, 16, 1000, 1024, CELLS]
            .iter()
            .map(|&b| Tree::build(&region, b, |c| cells[c]).root())
            .collect();
        assert!(roots.windows(2).all(|w| w[0] == w[1]), "{roots:?}");
        let tree = Tree::build(&region, 1024, |c| cells[c]);
        let leaf = cells_of_bucket(7, 1024).fold(0, |a, c| a ^ cells[c]);
        assert_eq!(tree.children(tree.depth(), &[0])[7], leaf);
    }

    #[test]
    fn a_region_holds_exactly_the_keys_both_replicate() {
        let ring = Ring::new(["a", "b", "c", "d", "e"], 16);
        let region = Region::shared(&ring, 2, "a", "b");
        for i in 0..5000 {
            let key = format!("k{i}");
            let t = ringkv_ring::key_token(key.as_bytes());
            let list = ring.preference_list(key.as_bytes(), 2);
            let both = list.contains(&"a".to_string()) && list.contains(&"b".to_string());
            assert_eq!(region.contains(t), both, "{key}");
            match region.cover(cell_of(t)) {
                Cover::In => assert!(both),
                Cover::Out => assert!(!both),
                Cover::Partial => {}
            }
        }
        let all = Region::shared(&ring, 5, "a", "e");
        assert!((0..CELLS).all(|c| all.cover(c) == Cover::In));
        assert!(Region::shared(&Ring::new(["a"], 4), 1, "a", "b").is_empty());
    }

    #[test]
    fn the_walk_finds_exactly_the_differing_leaves() {
        let leaves: Vec<u64> = (0..1000u64).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
        let mine = Tree::from_leaves(leaves.clone());
        assert_eq!(mine.depth(), 3);
        assert!(differing_leaves(&mine, &mine.clone()).is_empty());
        let mut other = leaves;
        for i in [0usize, 17, 18, 999] {
            // Distinct deltas: equal ones cancel in a XOR parent (real deltas are 64-bit
            // hashes, so that happens with probability 2^-64).
            other[i] ^= (i as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d);
        }
        let theirs = Tree::from_leaves(other);
        assert_ne!(mine.root(), theirs.root());
        assert_eq!(differing_leaves(&mine, &theirs), [0, 17, 18, 999]);
        assert_eq!(Tree::from_leaves(vec![5]).depth(), 0);
    }
}
