//! Encodings round-trip: a set through `encode`/`decode`, a context through the `X-Context`
//! header (also written straight from a set), and equal sets (reached by different merge
//! orders) give equal bytes.

mod common;

use common::{cases, reachable_set};
use proptest::prelude::*;
use ringkv_versions::{Context, VersionSet};

/// A context with arbitrary ids (any UTF-8, empty included) and counters (zero included).
fn any_context() -> impl Strategy<Value = Context> {
    prop::collection::vec((".{0,12}", any::<u64>()), 0..8)
        .prop_map(|entries: Vec<(String, u64)>| entries.into_iter().collect())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn sets_roundtrip_through_bytes(set in reachable_set()) {
        let bytes = set.encode();
        let back = VersionSet::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, set);
    }

    #[test]
    fn contexts_roundtrip_through_the_header(set in reachable_set(), ctx in any_context()) {
        for c in [set.context(), ctx] {
            let header = c.to_header();
            prop_assert!(header.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            prop_assert_eq!(Context::from_header(&header).unwrap(), c.clone());
            prop_assert_eq!(Context::from_bytes(&c.to_bytes()).unwrap(), c);
        }
    }

    #[test]
    fn a_sets_context_header_is_its_contexts_header(set in reachable_set()) {
        prop_assert_eq!(set.context_header(), set.context().to_header());
    }

    #[test]
    fn equal_sets_encode_equally(a in reachable_set(), b in reachable_set(), c in reachable_set()) {
        let mut x = a.clone();
        x.merge(&b);
        x.merge(&c);
        let mut y = c.clone();
        y.merge(&a);
        y.merge(&b);
        prop_assert_eq!(x.encode(), y.encode());
    }
}
