//! ringkv-loadgen: the HTTP load tool behind `ringkv bench`.
//!
//! It drives a ringkv cluster through the public items API (`PUT /items/{key}` with
//! `{"value": "..."}`, `GET /items/{key}`), from `--clients` concurrent closed-loop clients that
//! rotate over the given node URLs, and reports throughput, latency percentiles and failures per
//! operation.
//!
//! A tour, in the order a run goes:
//! - [`args`]: [`BenchArgs`] (the clap arguments the node's CLI embeds) validated into a plan;
//! - `workload`: key names, the read/write mix, value bodies (seeded);
//! - `client`: the pooled keep-alive HTTP client and the two requests;
//! - `driver`: the optional prefill and the measured phase, one task per client;
//! - `stats`: per-client HDR histograms and counters, merged at the end;
//! - [`report`]: the [`Report`] value, its table and its JSON;
//! - `progress`: the live bar (only on a terminal).
//!
//! [`run`] prints the report; [`run_with_report`] returns it (tests and embedders assert on it).

pub mod args;
mod client;
mod driver;
mod error;
mod progress;
pub mod report;
mod stats;
mod workload;

pub use args::BenchArgs;
pub use error::BenchError;
pub use report::{ErrorCounts, Latency, OpReport, PrefillReport, Report, Settings, TransportError};

/// Drives the cluster and prints the report: an aligned table, or JSON with `--json`.
///
/// Ctrl-C during the measured phase stops the clients early and still prints the report (marked
/// interrupted). Fails on invalid arguments, on a prefill that could not write every key, and
/// after printing the report when not a single request succeeded (so scripts notice a cluster
/// that is down).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let json = args.json;
    // If the signal handler cannot be installed, Ctrl-C keeps its default effect (exit at once).
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = run_until(args, interrupt).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if report.total.ok + report.total.misses == 0 {
        anyhow::bail!(
            "no request succeeded ({} failed): is the cluster up at {}?",
            report.total.errors.total(),
            report.settings.nodes.join(", ")
        );
    }
    Ok(())
}

/// Runs the benchmark and returns its figures without printing them.
pub async fn run_with_report(args: BenchArgs) -> Result<Report, BenchError> {
    run_until(args, std::future::pending()).await
}

/// Like [`run_with_report`], but the measured phase ends early once `interrupt` completes (for
/// embedders with their own shutdown signal; the report is then marked interrupted).
pub async fn run_until(
    args: BenchArgs,
    interrupt: impl Future<Output = ()>,
) -> Result<Report, BenchError> {
    let plan = args.plan()?;
    driver::execute(plan, interrupt).await
}
