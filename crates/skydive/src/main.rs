//! The `skydive` binary: command line, configuration, logging, signals; the services live in
//! `skydive-server`. `anyhow` is used here, at the edge, and nowhere below.

mod cli;
mod client;
mod config_load;

use anyhow::Context;
use clap::Parser;
use skydive_server::Analyzer;

use crate::cli::{Cli, Command};
use crate::config_load::{Loaded, LoggingConfig, ProcessEnv};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skydive: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("skydive {}", skydive_server::VERSION);
            Ok(())
        }
        Command::Client { analyzer, command } => {
            runtime()?.block_on(client::run(&analyzer, command))
        }
        Command::Analyzer { conf } => {
            let loaded = config_load::load(&conf, &ProcessEnv)?;
            init_logging(&loaded.config.logging)?;
            runtime()?.block_on(analyzer(loaded))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging(cfg: &LoggingConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::new(format!(
        "{},hyper=warn,tower_http=warn,fjall=warn,lsm_tree=warn",
        cfg.filter()?
    ));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.encoder == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn analyzer(loaded: Loaded) -> anyhow::Result<()> {
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let running = Analyzer::start(loaded.settings).await?;
    println!(
        "skydive analyzer listening on http://{}",
        running.local_addr()
    );
    wait_for_signal().await?;
    tracing::info!("stopping: closing connections, flushing history");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
