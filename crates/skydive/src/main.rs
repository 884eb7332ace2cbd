//! The `skydive` binary: command line, configuration, logging, signals; the services live in
//! `skydive-server`. `anyhow` is used here, at the edge, and nowhere below.

mod cli;
mod client;
mod config_load;

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use skydive_server::{Agent, Analyzer};

use crate::cli::{Cli, Command};
use crate::config_load::{Loaded, LoggingConfig, ProcessEnv};

/// Transparent huge pages for large tables (flow tables, graph slabs): fewer TLB misses and
/// page faults on the per-packet path; see `skydive_probes::huge_pages`.
#[global_allocator]
static ALLOC: skydive_probes::HugePageAlloc = skydive_probes::HugePageAlloc;

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
        Command::Agent { conf } => {
            let loaded = config_load::load(&conf, &ProcessEnv)?;
            init_logging(&loaded.config.logging)?;
            runtime()?.block_on(agent(loaded))
        }
        Command::Allinone { conf } => {
            let loaded = config_load::load(&conf, &ProcessEnv)?;
            init_logging(&loaded.config.logging)?;
            runtime()?.block_on(allinone(loaded))
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

async fn agent(loaded: Loaded) -> anyhow::Result<()> {
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let settings = loaded.agent_settings()?;
    if !config_load::is_root() {
        tracing::warn!(
            "not running as root: network namespaces cannot be entered (the netns probe is unavailable); run the agent as root to see them"
        );
    }
    let running = Agent::start(settings.clone()).await?;
    println!(
        "skydive agent `{}` listening on http://{}, forwarding to {}",
        settings.host_id,
        running.local_addr(),
        if settings.analyzers.is_empty() {
            "no analyzer".to_owned()
        } else {
            settings.analyzers.join(", ")
        }
    );
    wait_for_signal().await?;
    tracing::info!("stopping: saying goodbye to the analyzer, stopping the probes");
    running.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Where the in-process agent reaches the analyzer: its listen address, on loopback when it
/// listens on every interface.
fn loopback(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port()).to_string()
}

/// An analyzer and an agent in one process. The agent forwards its graph to the analyzer over
/// loopback WebSocket, with the same protocol and code as a remote agent: one path to test,
/// and the cost (a few JSON messages per change of one host) is negligible.
async fn allinone(loaded: Loaded) -> anyhow::Result<()> {
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let mut agent_settings = loaded.agent_settings()?;
    let analyzer = Analyzer::start(loaded.settings.clone()).await?;
    let own = loopback(analyzer.local_addr());
    if loaded.config.agent.analyzers.is_some() || loaded.config.analyzers.is_some() {
        tracing::warn!(
            "allinone: the agent forwards to its own analyzer ({own}); agent.analyzers and analyzers are ignored"
        );
    }
    agent_settings.analyzers = vec![own];
    let root = config_load::is_root();
    if !root {
        tracing::warn!(
            "not running as root: network namespaces cannot be entered (the netns probe is unavailable); run as root to see them"
        );
    }
    let agent = match Agent::start(agent_settings.clone()).await {
        Ok(a) => a,
        Err(e) => {
            let _ = analyzer.shutdown().await;
            return Err(e.into());
        }
    };
    println!(
        "skydive allinone: analyzer on http://{} (API, Gremlin, history), agent `{}` on http://{}{}",
        analyzer.local_addr(),
        agent_settings.host_id,
        agent.local_addr(),
        if root {
            ""
        } else {
            " (not root: no network namespaces)"
        }
    );
    wait_for_signal().await?;
    tracing::info!(
        "stopping: agent first (its subgraph leaves the live graph, history keeps it), then the analyzer"
    );
    agent.shutdown().await;
    analyzer.shutdown().await?;
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
