//! The per-table bloom filter (the `bloomfilter` crate), with a fixed seed so a filter written
//! by one process answers the same in another.
//!
//! Invariant: a filter decoded from disk has at least one bit and one hash function, so
//! `check` cannot divide by zero; bytes are only trusted after the block crc matched.

use bloomfilter::Bloom;

const SEED: [u8; 32] = *b"ringkv-storage bloom seed v1 ...";
/// bloomfilter's serialized header: version u8, len u64, k u32, seed [u8; 32].
const HEADER_BYTES: usize = 45;

pub(crate) struct BloomFilter(Bloom<[u8]>);

impl BloomFilter {
    /// A filter sized for `items` keys at false-positive rate `fp_rate`.
    pub(crate) fn new(items: usize, fp_rate: f64) -> BloomFilter {
        let fp = if fp_rate.is_finite() {
            fp_rate.clamp(1e-9, 0.5)
        } else {
            0.01
        };
        let bloom = Bloom::new_for_fp_rate_with_seed(items.max(1), fp, &SEED)
            .expect("bloom parameters are clamped to valid ranges");
        BloomFilter(bloom)
    }

    pub(crate) fn insert(&mut self, key: &[u8]) {
        self.0.set(key);
    }

    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.0.check(key)
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<BloomFilter, &'static str> {
        if bytes.len() <= HEADER_BYTES {
            return Err("bloom filter without bits");
        }
        let bloom = Bloom::from_slice(bytes)?;
        if bloom.number_of_hash_functions() == 0 || bloom.number_of_hash_functions() > 64 {
            return Err("bloom filter hash count out of range");
        }
        Ok(BloomFilter(bloom))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_false_negatives_and_round_trip() {
        let mut f = BloomFilter::new(1000, 0.01);
        for i in 0..1000u32 {
            f.insert(&i.to_be_bytes());
        }
        let g = BloomFilter::from_bytes(&f.to_bytes()).unwrap();
        assert!((0..1000u32).all(|i| g.may_contain(&i.to_be_bytes())));
        let fps = (1000..11000u32)
            .filter(|i| g.may_contain(&i.to_be_bytes()))
            .count();
        assert!(fps < 300, "{fps} false positives in 10000");
        assert!(BloomFilter::from_bytes(&[1; 10]).is_err());
    }
}
