//! What each request is: which operation, which key, which value.
//!
//! Keys are `bench-` plus a zero-padded index (`bench-00001234`), at least 8 digits and as many
//! as the largest index needs, so every name in a key space has the same length and sorts in
//! index order. Operations and keys are drawn uniformly from a per-client seeded generator, so a
//! run with `--seed` issues the same sequence from each client every time.

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// The kind of request, each measured separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `GET /items/{key}`.
    Read,
    /// `PUT /items/{key}` with `{"value": "..."}`.
    Write,
}

/// The keys a run touches: `count` names of equal width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeySpace {
    count: u64,
    width: usize,
}

impl KeySpace {
    /// Zero-padding used for key spaces up to a hundred million keys.
    const MIN_WIDTH: usize = 8;

    pub fn new(count: u64) -> Self {
        let largest = count.saturating_sub(1);
        let digits = largest.checked_ilog10().map_or(1, |d| d as usize + 1);
        Self {
            count,
            width: digits.max(Self::MIN_WIDTH),
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The name of key `index` (expected `< count`).
    pub fn name(&self, index: u64) -> String {
        format!("bench-{index:0width$}", width = self.width)
    }
}

/// One client's source of operations: a seeded generator over the mix and the key space.
#[derive(Debug)]
pub(crate) struct Workload {
    rng: SmallRng,
    read_ratio: f64,
    keys: KeySpace,
}

impl Workload {
    /// The generator of client number `client` in a run seeded with `seed`.
    pub fn new(seed: u64, client: u64, read_ratio: f64, keys: KeySpace) -> Self {
        // Spread client numbers over the seed space so neighbouring clients do not correlate.
        let stream = seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Self {
            rng: SmallRng::seed_from_u64(stream),
            read_ratio,
            keys,
        }
    }

    /// The next operation and the index of its key.
    pub fn next_op(&mut self) -> (Op, u64) {
        let op = if self.rng.random_bool(self.read_ratio) {
            Op::Read
        } else {
            Op::Write
        };
        (op, self.rng.random_range(0..self.keys.count()))
    }

    /// A PUT body `{"value": "<size printable ASCII bytes>"}`, drawn from this client's generator.
    ///
    /// The characters need no JSON escaping, so the string holds exactly `size` bytes.
    pub fn value_body(&mut self, size: usize) -> Bytes {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut body = Vec::with_capacity(size + 14);
        body.extend_from_slice(br#"{"value":""#);
        body.extend((0..size).map(|_| ALPHABET[self.rng.random_range(0..ALPHABET.len())]));
        body.extend_from_slice(br#""}"#);
        Bytes::from(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names_are_padded_to_at_least_eight_digits() {
        let keys = KeySpace::new(10_000);
        assert_eq!(keys.name(0), "bench-00000000");
        assert_eq!(keys.name(1234), "bench-00001234");
        assert_eq!(KeySpace::new(1).name(0), "bench-00000000");
    }

    #[test]
    fn large_key_spaces_widen_every_name_alike() {
        let keys = KeySpace::new(1_000_000_000);
        assert_eq!(keys.name(7), "bench-000000007");
        assert_eq!(keys.name(999_999_999), "bench-999999999");
        assert_eq!(
            KeySpace::new(100_000_000).name(99_999_999),
            "bench-99999999"
        );
    }

    #[test]
    fn ratio_zero_writes_only_and_one_reads_only() {
        let keys = KeySpace::new(10);
        let mut writes = Workload::new(1, 0, 0.0, keys);
        let mut reads = Workload::new(1, 0, 1.0, keys);
        for _ in 0..1000 {
            assert_eq!(writes.next_op().0, Op::Write);
            assert_eq!(reads.next_op().0, Op::Read);
        }
    }

    #[test]
    fn keys_stay_in_range_and_all_get_used() {
        let mut w = Workload::new(3, 2, 0.5, KeySpace::new(16));
        let mut seen = [false; 16];
        for _ in 0..2000 {
            let (_, key) = w.next_op();
            seen[key as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn same_seed_and_client_repeat_the_sequence_others_differ() {
        let keys = KeySpace::new(1_000_000);
        let run = |seed, client| {
            let mut w = Workload::new(seed, client, 0.5, keys);
            (0..50).map(|_| w.next_op()).collect::<Vec<_>>()
        };
        assert_eq!(run(42, 3), run(42, 3));
        assert_ne!(run(42, 3), run(42, 4));
        assert_ne!(run(42, 3), run(43, 3));
    }

    #[test]
    fn value_bodies_are_json_with_a_string_of_the_asked_length() {
        let mut w = Workload::new(9, 0, 0.5, KeySpace::new(1));
        for size in [0, 1, 100, 4096] {
            let body = w.value_body(size);
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(json["value"].as_str().unwrap().len(), size);
            assert_eq!(json.as_object().unwrap().len(), 1);
        }
    }
}
