//! Command line: `skydive allinone`, `skydive analyzer`, `skydive agent`, `skydive client …`,
//! `skydive version`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Skydive: real-time network topology and flow analyzer.
#[derive(Debug, Parser)]
#[command(name = "skydive", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an analyzer and an agent in one process: this host's topology, its history and the
    /// API on 127.0.0.1:8082, no configuration needed (run as root to see network namespaces).
    Allinone {
        /// Configuration file (YAML, Skydive's keys); optional, repeat to merge several.
        #[arg(short = 'c', long = "conf", value_name = "FILE")]
        conf: Vec<PathBuf>,
    },
    /// Run the analyzer: REST API, WebSocket endpoints and topology history.
    Analyzer {
        /// Configuration file (YAML, Skydive's keys); repeat to merge several, later ones win.
        /// Without one, defaults and `SKYDIVE_*` environment variables apply.
        #[arg(short = 'c', long = "conf", value_name = "FILE")]
        conf: Vec<PathBuf>,
    },
    /// Run an agent (as root): this host's topology, served on agent.listen and forwarded to
    /// the analyzers of agent.analyzers.
    Agent {
        /// Configuration file (YAML, Skydive's keys); repeat to merge several, later ones win.
        #[arg(short = 'c', long = "conf", value_name = "FILE")]
        conf: Vec<PathBuf>,
    },
    /// Talk to a running analyzer.
    Client {
        /// Analyzer address (host:port).
        #[arg(
            long,
            global = true,
            env = "SKYDIVE_ANALYZER",
            default_value = "127.0.0.1:8082"
        )]
        analyzer: String,
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Run a Gremlin query, e.g. `skydive client query "G.V().Has('Type', 'host')"`.
    Query {
        /// The Gremlin query.
        gremlin: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Show the analyzer's status.
    Status,
    /// Topology commands (Skydive's `client topology query` is the same as `client query`).
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Captures (`/api/capture`): create, list, delete.
    Capture {
        #[command(subcommand)]
        command: CaptureCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaptureCommand {
    /// Create a capture, e.g. `skydive client capture create --gremlin "G.V().Has('Type', 'ovsbridge')"`.
    Create(CaptureArgs),
    /// List the captures.
    List,
    /// Delete a capture by UUID.
    Delete { id: String },
}

/// Skydive's `client capture create` flags.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// Gremlin query selecting the nodes to capture on.
    #[arg(long)]
    pub gremlin: String,
    /// Capture type (ovssflow, sflow, pcap, afpacket, pcapsocket).
    #[arg(long = "type", default_value = "")]
    pub kind: String,
    /// BPF filter.
    #[arg(long, default_value = "")]
    pub bpf: String,
    #[arg(long, default_value = "")]
    pub name: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Bytes of each packet header kept.
    #[arg(long = "header-size", default_value_t = 0)]
    pub header_size: i64,
    /// sFlow sampling rate.
    #[arg(long = "samplingrate", default_value_t = 1)]
    pub sampling_rate: u32,
    /// sFlow polling interval, in seconds.
    #[arg(long = "pollinginterval", default_value_t = 10)]
    pub polling_interval: u32,
    /// Port (sflow, pcapsocket captures).
    #[arg(long, default_value_t = 0)]
    pub port: i64,
    /// L2 or L3.
    #[arg(long = "layer-key-mode", default_value = "L2")]
    pub layer_key_mode: String,
}

#[derive(Debug, Subcommand)]
pub enum TopologyCommand {
    /// Run a Gremlin query.
    Query {
        gremlin: String,
        #[arg(long, value_enum, default_value_t = Format::Json)]
        format: Format,
    },
    /// Print the whole graph as JSON.
    Export,
}

/// Output format of queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    /// Graphviz dot.
    Dot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_commands() {
        let c =
            Cli::try_parse_from(["skydive", "analyzer", "-c", "a.yml", "--conf", "b.yml"]).unwrap();
        assert!(matches!(c.command, Command::Analyzer { ref conf } if conf.len() == 2));
        let c = Cli::try_parse_from(["skydive", "client", "query", "G.V()", "--analyzer", "h:1"])
            .unwrap();
        match c.command {
            Command::Client {
                analyzer,
                command: ClientCommand::Query { gremlin, format },
            } => {
                assert_eq!(
                    (analyzer.as_str(), gremlin.as_str(), format),
                    ("h:1", "G.V()", Format::Json)
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["skydive", "client", "status"]).is_ok());
        assert!(matches!(
            Cli::try_parse_from(["skydive", "agent", "-c", "s.yml"]).unwrap().command,
            Command::Agent { ref conf } if conf.len() == 1
        ));
        assert!(matches!(
            Cli::try_parse_from(["skydive", "allinone"]).unwrap().command,
            Command::Allinone { ref conf } if conf.is_empty()
        ));
        assert!(Cli::try_parse_from(["skydive", "client", "topology", "export"]).is_ok());
        let c = Cli::try_parse_from([
            "skydive",
            "client",
            "capture",
            "create",
            "--gremlin",
            "G.V()",
            "--type",
            "ovssflow",
            "--samplingrate",
            "2",
            "--header-size",
            "64",
            "--layer-key-mode",
            "L3",
        ])
        .unwrap();
        match c.command {
            Command::Client {
                command:
                    ClientCommand::Capture {
                        command: CaptureCommand::Create(a),
                    },
                ..
            } => {
                assert_eq!((a.gremlin.as_str(), a.kind.as_str()), ("G.V()", "ovssflow"));
                assert_eq!((a.sampling_rate, a.header_size), (2, 64));
                assert_eq!((a.polling_interval, a.layer_key_mode.as_str()), (10, "L3"));
            }
            other => panic!("{other:?}"),
        }
        assert!(Cli::try_parse_from(["skydive", "client", "capture", "list"]).is_ok());
        assert!(Cli::try_parse_from(["skydive", "client", "capture", "delete", "x"]).is_ok());
    }
}
