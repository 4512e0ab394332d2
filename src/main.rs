//! `ringkv`: the node binary. See `ringkv --help` and the crate docs for the tour.

use std::io::{IsTerminal as _, Write as _};

use clap::Parser as _;
use ringkv::cli::{Cli, Command};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = run(Cli::parse().command.canonical()).await {
        // One line a person can act on; the causes are joined into it.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
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
        Command::Server(args) => ringkv::cli::server::run(args).await,
        Command::Client(args) => ringkv::client::run(args).await,
        Command::Healthcheck(args) => std::process::exit(ringkv::healthcheck::run(&args).await),
        other => anyhow::bail!("{other:?} is an alias that canonical() replaces"),
    }
}
