//! The load tool's own ceiling: `ringkv bench` against the in-process, in-memory test node of the
//! integration tests (axum over a `Mutex<HashMap>`) on loopback, write-only then read-only.
//! Figures far above a real cluster's mean the tool is not what limits those.
//!
//! `cargo bench -p ringkv-loadgen --bench loopback`; `LOADGEN_LOOPBACK_SECS` sets each run's
//! length (default 5) and `LOADGEN_LOOPBACK_CLIENTS` the clients (default 64).

#[allow(dead_code)] // The tests' helpers that only the tests use.
#[path = "../tests/bench/harness.rs"]
mod harness;

use harness::{Faults, TestNode};
use ringkv_loadgen::BenchArgs;

fn main() -> anyhow::Result<()> {
    let secs = std::env::var("LOADGEN_LOOPBACK_SECS").unwrap_or_else(|_| "5".into());
    let clients = std::env::var("LOADGEN_LOOPBACK_CLIENTS").unwrap_or_else(|_| "64".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let node = TestNode::start(Faults::default()).await;
        for ratio in ["0", "1"] {
            let argv = [
                "bench",
                "--url",
                &node.url,
                "--clients",
                &clients,
                "--duration",
                &secs,
                "--keys",
                "10000",
                "--value-size",
                "100",
                "--prefill",
                "--read-ratio",
                ratio,
                "--seed",
                "1",
            ];
            ringkv_loadgen::run(BenchArgs::try_parse_from(argv)?).await?;
            println!();
        }
        anyhow::Ok(())
    })
}
