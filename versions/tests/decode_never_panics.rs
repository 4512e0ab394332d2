//! Decoding untrusted input returns errors, never panics; whatever it accepts is canonical
//! (re-encodes to the same bytes). Covers arbitrary bytes, arbitrary header strings, and
//! mutations (truncations, byte flips, insertions) of valid encodings.

mod common;

use common::{cases, reachable_set};
use proptest::prelude::*;
use ringkv_versions::{Context, VersionSet};

fn check_set(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(set) = VersionSet::decode(bytes) {
        prop_assert_eq!(set.encode(), bytes);
    }
    Ok(())
}

fn check_context(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(ctx) = Context::from_bytes(bytes) {
        prop_assert_eq!(ctx.to_bytes(), bytes);
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, u8),
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match *m {
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Flip(at, x) if !bytes.is_empty() => bytes[at % len] ^= x.max(1),
            Mutation::Flip(..) => {}
            Mutation::Insert(at, x) => bytes.insert(at % (bytes.len() + 1), x),
        }
    }
    bytes
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let m = prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(a, x)| Mutation::Flip(a, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(a, x)| Mutation::Insert(a, x)),
    ];
    prop::collection::vec(m, 1..4)
}

proptest! {
    #![proptest_config(cases(1024))]

    #[test]
    fn arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_set(&bytes)?;
        check_context(&bytes)?;
    }

    #[test]
    fn arbitrary_header_strings(s in ".{0,64}", b64 in "[A-Za-z0-9_=-]{0,64}") {
        for h in [s, b64] {
            if let Ok(ctx) = Context::from_header(&h) {
                prop_assert!(h.is_empty() || ctx.to_header() == h);
            }
        }
    }

    #[test]
    fn mutated_valid_encodings(set in reachable_set(), ms in mutations()) {
        let bytes = mutate(set.encode(), &ms);
        check_set(&bytes)?;
        let ctx_bytes = mutate(set.context().to_bytes(), &ms);
        check_context(&ctx_bytes)?;
        let _ = Context::from_header(&String::from_utf8_lossy(&mutate(set.context().to_header().into_bytes(), &ms)));
    }
}
