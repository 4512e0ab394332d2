//! Fuzzes `Context::from_header` with arbitrary strings: it must never panic, and whatever it
//! accepts (other than the empty string, the empty context) must be exactly what `to_header`
//! writes for the result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkv_versions::Context;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    if let Ok(ctx) = Context::from_header(&header) {
        assert!(
            header.is_empty() || ctx.to_header() == header,
            "accepted a non-canonical header"
        );
    }
});
