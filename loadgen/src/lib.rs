//! ringkv-loadgen: the HTTP load tool behind `ringkv bench`.
//!
//! CONTRACT SKELETON: the node's CLI embeds `BenchArgs` as the `bench` subcommand's arguments and
//! calls `run`. The implementation fills in the fields and the body.

/// Arguments of `ringkv bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {}

/// Drives the cluster and prints the report.
pub async fn run(_args: BenchArgs) -> anyhow::Result<()> {
    todo!()
}
