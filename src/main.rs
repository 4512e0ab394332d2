//! `ringkv`: the node binary. See `ringkv --help` and the crate docs for the tour.

use std::io::{IsTerminal as _, Write as _};

use clap::Parser as _;
use ringkv::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match Cli::parse().command {
        Command::Serve(args) => {
            let config = args.load()?;
            let listener = tokio::net::TcpListener::bind((config.host.as_str(), config.port))
                .await
                .map_err(|e| anyhow::anyhow!("binding {}:{}: {e}", config.host, config.port))?;
            ringkv::server::run(config, listener, ringkv::server::shutdown_signal(), |c| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "listening on {}", c.public_url());
                let _ = out.flush();
            })
            .await
        }
        Command::Dev(args) => ringkv::dev::run(args).await,
        Command::Bench(args) => ringkv_loadgen::run(args).await,
        Command::Get { key, target } => ringkv::client::get(&target, &key).await,
        Command::Put {
            key,
            value,
            ttl,
            target,
        } => ringkv::client::put(&target, &key, &value, ttl).await,
        Command::Delete { key, target } => ringkv::client::delete(&target, &key).await,
        Command::List { prefix, target } => ringkv::client::list(&target, &prefix).await,
        Command::Peers { target } => ringkv::client::peers(&target).await,
        Command::Join { peer_url, target } => ringkv::client::join(&target, &peer_url).await,
        Command::Healthcheck(args) => std::process::exit(ringkv::healthcheck::run(&args).await),
    }
}
