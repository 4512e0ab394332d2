//! Preference-list lookup (N = 3) on rings of 3, 10 and 100 members with the default 256 tokens
//! each: hashing the key, the binary search, the walk to 3 distinct members and the `String`s.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ringkv_ring::{DEFAULT_TOKENS_PER_MEMBER, Ring};

fn preference_list(c: &mut Criterion) {
    let keys: Vec<String> = (0..1024).map(|i| format!("user:{i:08}")).collect();
    let mut group = c.benchmark_group("preference_list_n3");
    for members in [3usize, 10, 100] {
        let ids = (0..members).map(|i| format!("10.0.{}.{}:7000", i / 256, i % 256));
        let ring = Ring::new(ids, DEFAULT_TOKENS_PER_MEMBER);
        group.bench_with_input(BenchmarkId::from_parameter(members), &ring, |b, ring| {
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(ring.preference_list(black_box(keys[i].as_bytes()), 3))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, preference_list);
criterion_main!(benches);
