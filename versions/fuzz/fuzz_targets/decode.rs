//! Fuzzes the binary decoders: `VersionSet::decode` and `Context::from_bytes` must never panic,
//! must accept only canonical bytes, and every accepted set must be a valid state that the
//! operations (merge, update, prune) keep valid.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_versions::{Context, Limits, Value, VersionSet};

fuzz_target!(|data: &[u8]| {
    if let Ok(ctx) = Context::from_bytes(data) {
        assert_eq!(
            ctx.to_bytes(),
            data,
            "context decoder accepted non-canonical bytes"
        );
    }
    let Ok(set) = VersionSet::decode(data) else {
        return;
    };
    assert_eq!(
        set.encode(),
        data,
        "set decoder accepted non-canonical bytes"
    );

    let mut merged = set.clone();
    merged.merge(&set);
    assert_eq!(merged, set, "merge is not idempotent");

    let _ = set.live_values(u64::MAX / 2);
    let _ = set.can_collect(u64::MAX, 0);
    let ctx = set.context();
    assert_eq!(Context::from_header(&ctx.to_header()).as_ref(), Ok(&ctx));

    let mut next = set.clone();
    next.update(&ctx, Value::Tombstone, None, "fuzz", u64::MAX);
    next.merge(&set);
    next.prune(&Limits::caps(2, 2));
    assert_eq!(
        VersionSet::decode(&next.encode()).as_ref(),
        Ok(&next),
        "operations broke an invariant"
    );
});
