//! Configuration: YAML files with Skydive's key names, then `SKYDIVE_*` environment
//! overrides, then defaults; parsed once into typed sections (each defined beside the
//! component it configures), then checked into what the analyzer (and, on demand, the agent:
//! [`Loaded::agent_settings`]) runs with.
//!
//! Environment: `SKYDIVE_<KEY>` sets the dotted key whose dots (and dashes) become
//! underscores, matched case-insensitively against the known keys, so a key holding an
//! underscore resolves too (`SKYDIVE_HTTP_WS_QUEUE_SIZE` → `http.ws.queue_size`). The value
//! takes the key's type (number, boolean, list split on commas or spaces, string). The
//! environment is read through [`Env`], so tests never touch the process's.
//!
//! Unknown keys are never silently ignored: each is reported with its full dotted path
//! (and unknown `SKYDIVE_*` variables by name), as warnings, and the analyzer starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use skydive_flow::FlowConfig;
use skydive_server::{
    AgentConfig, AgentSettings, AnalyzerConfig, AnalyzerSettings, HttpConfig, OvsKeys,
    analyzer_list,
};
use skydive_store::HistoryConfig;

/// Where environment variables come from.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    /// Every variable (for the `SKYDIVE_*` scan).
    fn vars(&self) -> Vec<(String, String)>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }
}

/// A fixed environment (tests).
#[cfg(test)]
#[derive(Debug, Default, Clone)]
pub struct MapEnv(pub BTreeMap<String, String>);

#[cfg(test)]
impl MapEnv {
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        MapEnv(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
    fn vars(&self) -> Vec<(String, String)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// `logging.*`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoggingConfig {
    /// `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL` (Skydive's levels).
    pub level: String,
    /// `""` for human-readable lines, `json` for one JSON object per line.
    pub encoder: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: "INFO".to_owned(),
            encoder: String::new(),
        }
    }
}

impl LoggingConfig {
    /// The `tracing` filter for this level.
    pub fn filter(&self) -> anyhow::Result<&'static str> {
        Ok(match self.level.to_ascii_uppercase().as_str() {
            "DEBUG" => "debug",
            "INFO" => "info",
            "WARNING" | "WARN" => "warn",
            "ERROR" | "CRITICAL" | "FATAL" => "error",
            other => bail!(
                "logging.level `{other}` is not a level: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            ),
        })
    }
}

/// `analyzer.topology.backend` for history on local disk (`storage.*`, `skydive-store`).
pub const EMBEDDED_BACKEND: &str = "embedded";
/// `analyzer.topology.backend` for no history.
pub const MEMORY_BACKEND: &str = "memory";

/// The history store's settings as JSON, for `/api/config` and as type hints for the
/// environment (`skydive_store::HistoryConfig`'s fields).
pub fn history_json(h: &HistoryConfig) -> Value {
    serde_json::json!({
        "data_dir": h.data_dir.display().to_string(),
        "retention_secs": h.retention_secs,
        "fsync_ms": h.fsync_ms,
        "checkpoint_max_interval_secs": h.checkpoint_max_interval_secs,
        "buffer_events": h.buffer_events,
        "buffer_full_wait_ms": h.buffer_full_wait_ms,
        "retention_check_secs": h.retention_check_secs,
    })
}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// This process's identity in the graph and to its peers (Skydive: the hostname).
    pub host_id: String,
    /// Skydive's list of analyzers (a YAML list or one string); the agent forwards to them when
    /// `agent.analyzers` is absent.
    #[serde(deserialize_with = "analyzer_list")]
    pub analyzers: Option<Vec<String>>,
    pub analyzer: AnalyzerConfig,
    pub agent: AgentConfig,
    /// `ovs.*`: the agent's `ovsdb` probe.
    pub ovs: OvsKeys,
    /// `flow.*`: the agents' flow tables and the analyzer's live flows.
    pub flow: FlowConfig,
    pub http: HttpConfig,
    /// `storage.*`: the history store's keys (`skydive_store::HistoryConfig`), checked when
    /// `analyzer.topology.backend` is `embedded`.
    pub storage: Map<String, Value>,
    pub logging: LoggingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // Empty: filled with the host name after loading (a missing key must not take a
            // fixed default).
            host_id: String::new(),
            analyzers: None,
            analyzer: AnalyzerConfig::default(),
            agent: AgentConfig::default(),
            ovs: OvsKeys::default(),
            flow: FlowConfig::default(),
            http: HttpConfig::default(),
            storage: Map::new(),
            logging: LoggingConfig::default(),
        }
    }
}

/// Configuration loaded and checked.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// What the analyzer runs with.
    pub settings: AnalyzerSettings,
    /// Unknown keys and variables, to report once logging is set up.
    pub warnings: Vec<String>,
}

/// Where an agent forwards when no analyzer is configured (Skydive's default).
pub const DEFAULT_ANALYZER: &str = "127.0.0.1:8082";

impl Loaded {
    /// What the agent runs with: `agent.*`, the analyzers resolved (`agent.analyzers`, else
    /// `analyzers`, else [`DEFAULT_ANALYZER`]), checked.
    pub fn agent_settings(&self) -> anyhow::Result<AgentSettings> {
        let c = &self.config;
        let analyzers = c
            .agent
            .analyzers
            .clone()
            .or_else(|| c.analyzers.clone())
            .unwrap_or_else(|| vec![DEFAULT_ANALYZER.to_owned()]);
        let s = AgentSettings {
            host_id: c.host_id.clone(),
            agent: c.agent.clone(),
            analyzers,
            ovs: c.ovs.clone(),
            flow: c.flow.clone(),
            http: c.http.clone(),
            effective_config: self.settings.effective_config.clone(),
        };
        s.validate()?;
        Ok(s)
    }
}

/// The host name, Skydive's default `host_id`.
fn hostname(env: &dyn Env) -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| env.var("HOSTNAME").filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether this process runs as root (owner of `/proc/self` is the effective user).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Where data goes by default: `/var/lib/skydive` for root, else `$XDG_DATA_HOME/skydive`
/// (or `~/.local/share/skydive`).
pub fn default_data_dir(env: &dyn Env, root: bool) -> PathBuf {
    if root {
        return PathBuf::from("/var/lib/skydive");
    }
    if let Some(x) = env.var("XDG_DATA_HOME").filter(|s| s.starts_with('/')) {
        return PathBuf::from(x).join("skydive");
    }
    if let Some(home) = env.var("HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(home).join(".local/share/skydive");
    }
    PathBuf::from("skydive-data")
}

/// Loads `files` (merged in order), applies the environment, fills defaults and checks.
pub fn load(files: &[PathBuf], env: &dyn Env) -> anyhow::Result<Loaded> {
    load_with(files, env, is_root())
}

/// [`load`], with whether we run as root given.
pub fn load_with(files: &[PathBuf], env: &dyn Env, root: bool) -> anyhow::Result<Loaded> {
    let mut tree = Value::Object(Map::new());
    for f in files {
        let doc = read_file(f)?;
        merge(&mut tree, doc);
    }
    let mut warnings = Vec::new();
    drop_named_storage(&mut tree, &mut warnings);

    let default_history = HistoryConfig {
        data_dir: default_data_dir(env, root),
        ..HistoryConfig::default()
    };
    let defaults = Config {
        host_id: hostname(env),
        storage: match history_json(&default_history) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        ..Config::default()
    };
    let defaults_tree =
        serde_json::to_value(&defaults).context("encoding the default configuration")?;
    apply_env(&mut tree, &defaults_tree, env, &mut warnings)?;

    let mut ignored = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path<'_>| ignored.push(path.to_string());
    let de = serde_ignored::Deserializer::new(tree, &mut on_ignored);
    let mut config: Config = serde_path_to_error::deserialize(de)
        .map_err(|e| anyhow!("configuration key `{}`: {}", e.path(), e.inner()))?;
    for key in ignored {
        warnings.push(format!(
            "unknown or unsupported configuration key `{key}` (ignored)"
        ));
    }
    if config.host_id.is_empty() {
        config.host_id = defaults.host_id.clone();
    }
    let history = check(&config, &default_history, &mut warnings)?;

    let mut effective = serde_json::to_value(&config).context("encoding the configuration")?;
    if let Some(h) = &history {
        effective["storage"] = history_json(h);
    }
    let settings = AnalyzerSettings {
        host_id: config.host_id.clone(),
        analyzer: config.analyzer.clone(),
        http: config.http.clone(),
        history,
        flow: config.flow.clone(),
        effective_config: effective,
    };
    Ok(Loaded {
        config,
        settings,
        warnings,
    })
}

/// Skydive's named storage sections (`storage.elasticsearch: {driver: …}`) have no
/// equivalent: history is the embedded store's (`storage.data_dir` …). Reported, then left out.
fn drop_named_storage(tree: &mut Value, warnings: &mut Vec<String>) {
    let Some(Value::Object(storage)) = tree.get_mut("storage") else {
        return;
    };
    let named: Vec<String> = storage
        .iter()
        .filter(|(_, v)| v.is_object())
        .map(|(k, _)| k.clone())
        .collect();
    for name in named {
        storage.remove(&name);
        warnings.push(format!(
            "storage.{name}: Skydive's named storage backends are not supported (ignored); topology history \
             is kept on local disk, see storage.data_dir in docs/config.md"
        ));
    }
}

fn read_file(path: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    let doc: Value = yaml_serde::from_str(&text)
        .with_context(|| format!("{}: not valid YAML", path.display()))?;
    match doc {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(doc),
        other => bail!(
            "{}: the top level must be a mapping of keys (like `analyzer:`), found {}",
            path.display(),
            match other {
                Value::Array(_) => "a list",
                _ => "a single value",
            }
        ),
    }
}

/// Deep-merges `from` into `into` (later files win).
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Every leaf key of `v` with its value (the type hint for environment values).
fn leaves(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(&key, child, out);
            }
        }
        _ if !prefix.is_empty() => {
            out.insert(prefix.to_owned(), v.clone());
        }
        _ => {}
    }
}

/// The keys an environment variable may set, with a value of the key's type.
fn known_keys(defaults: &Value, tree: &Value) -> BTreeMap<String, Value> {
    let mut keys = BTreeMap::new();
    leaves("", tree, &mut keys);
    // Defaults win as type hints.
    leaves("", defaults, &mut keys);
    keys
}

fn env_name(key: &str) -> String {
    format!(
        "SKYDIVE_{}",
        key.replace(['.', '-'], "_").to_ascii_uppercase()
    )
}

/// Applies `SKYDIVE_*` variables onto the tree.
fn apply_env(
    tree: &mut Value,
    defaults: &Value,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> anyhow::Result<()> {
    let keys = known_keys(defaults, tree);
    let by_name: BTreeMap<String, (&String, &Value)> =
        keys.iter().map(|(k, v)| (env_name(k), (k, v))).collect();
    let mut vars = env.vars();
    vars.sort();
    for (name, raw) in vars {
        let upper = name.to_ascii_uppercase();
        if !upper.starts_with("SKYDIVE_") {
            continue;
        }
        let Some((key, hint)) = by_name.get(&upper) else {
            warnings.push(format!(
                "environment variable {name} matches no configuration key (ignored)"
            ));
            continue;
        };
        let value = typed(&raw, hint)
            .map_err(|why| anyhow!("environment variable {name}=`{raw}` (for `{key}`): {why}"))?;
        set_path(tree, key, value);
    }
    Ok(())
}

/// An environment string as a value of the hinted type.
fn typed(raw: &str, hint: &Value) -> Result<Value, String> {
    let number = |s: &str| -> Result<Value, String> {
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Ok(Value::from(u));
        }
        s.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "expected a number".to_owned())
    };
    let s = raw.trim();
    match hint {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Number(_) => number(s),
        Value::Bool(_) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
            _ => Err("expected true or false".to_owned()),
        },
        Value::Array(items) => {
            let parts = s.split([',', ' ']).filter(|p| !p.is_empty());
            match items.first() {
                Some(Value::Number(_)) => parts
                    .map(number)
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array),
                _ => Ok(Value::Array(
                    parts.map(|p| Value::String(p.to_owned())).collect(),
                )),
            }
        }
        _ => Ok(
            yaml_serde::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        ),
    }
}

fn set_path(tree: &mut Value, key: &str, value: Value) {
    let mut cur = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i + 1 == parts.len() {
            m.insert((*p).to_owned(), value);
            return;
        }
        cur = m
            .entry((*p).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Cross-field checks; returns the history store's settings, if history is kept.
fn check(
    c: &Config,
    default_history: &HistoryConfig,
    warnings: &mut Vec<String>,
) -> anyhow::Result<Option<HistoryConfig>> {
    c.logging.filter()?;
    if !matches!(c.logging.encoder.as_str(), "" | "json") {
        bail!(
            "logging.encoder `{}` is not supported: use `json` or leave it empty",
            c.logging.encoder
        );
    }
    if c.analyzer.listen.trim().is_empty() {
        bail!("analyzer.listen is empty: give an address like 127.0.0.1:8082");
    }
    if c.http.ws.queue_size == 0 {
        bail!("http.ws.queue_size must be at least 1");
    }
    if c.http.max_body_bytes < 1024 {
        bail!(
            "http.max_body_bytes is {}: at least 1024 bytes are needed for any request",
            c.http.max_body_bytes
        );
    }
    if c.http.ws.max_message_bytes < 1024 {
        bail!(
            "http.ws.max_message_bytes is {}: at least 1024 bytes are needed",
            c.http.ws.max_message_bytes
        );
    }
    match c.analyzer.topology.backend.as_str() {
        MEMORY_BACKEND => {
            if !c.storage.is_empty() {
                warnings.push(
                    "storage.* is set but analyzer.topology.backend is `memory`: no history is kept".to_owned(),
                );
            }
            Ok(None)
        }
        EMBEDDED_BACKEND => {
            let mut options = c.storage.clone();
            if options
                .get("data_dir")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                options.insert(
                    "data_dir".to_owned(),
                    Value::String(default_history.data_dir.display().to_string()),
                );
            }
            let cfg: HistoryConfig = serde_path_to_error::deserialize(Value::Object(options))
                .map_err(|e| anyhow!("configuration key `storage.{}`: {}", e.path(), e.inner()))?;
            cfg.validate()?;
            Ok(Some(cfg))
        }
        other => bail!(
            "analyzer.topology.backend `{other}` is not supported: use `{EMBEDDED_BACKEND}` (history on local \
             disk, storage.*) or `{MEMORY_BACKEND}` (no history)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn env() -> MapEnv {
        MapEnv::new([("HOME", "/home/u")])
    }

    #[test]
    fn no_file_gives_defaults_and_a_user_data_dir() {
        let l = load_with(&[], &env(), false).unwrap();
        assert_eq!(l.config.analyzer.listen, "127.0.0.1:8082");
        assert_eq!(
            l.config.host_id,
            hostname(&env()),
            "host_id defaults to the host name"
        );
        assert_eq!(l.config.http.ws.queue_size, 10_000);
        assert!(l.settings.history.is_some());
        assert_eq!(
            l.settings.effective_config["storage"]["data_dir"],
            "/home/u/.local/share/skydive"
        );
        assert_eq!(
            l.settings.effective_config["storage"]["retention_secs"],
            604_800
        );
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let root = load_with(&[], &env(), true).unwrap();
        assert_eq!(
            root.settings.effective_config["storage"]["data_dir"],
            "/var/lib/skydive"
        );
        let xdg = MapEnv::new([("XDG_DATA_HOME", "/x")]);
        assert_eq!(default_data_dir(&xdg, false), PathBuf::from("/x/skydive"));
    }

    #[test]
    fn skydive_file_with_unknown_keys_warns_with_full_paths() {
        let f = file(
            "host_id: an1\nanalyzer:\n  listen: 0.0.0.0:9999\n  flow:\n    backend: elasticsearch\n\
             agent:\n  topology:\n    probes: [netlink]\n    docker:\n      url: x\n  flow:\n    probes: [pcap]\n\
             http:\n  ws:\n    queue_size: 5\n    pong_timeout: 7\n",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert_eq!(l.config.host_id, "an1");
        assert_eq!(l.config.analyzer.listen, "0.0.0.0:9999");
        assert_eq!(l.config.http.ws.queue_size, 5);
        assert_eq!(l.config.http.ws.pong_timeout, 7);
        let w = l.warnings.join("\n");
        assert!(
            w.contains("`analyzer.flow`") || w.contains("`analyzer.flow.backend`"),
            "{w}"
        );
        assert!(
            w.contains("`agent.topology.docker`") || w.contains("`agent.topology.docker.url`"),
            "{w}"
        );
        assert!(!w.contains("agent.topology.probes"), "{w}");
        assert_eq!(l.config.agent.topology.probes, ["netlink"]);
        // A known key with a value the agent cannot run: refused when the agent starts,
        // naming the key (an analyzer sharing the file is not affected).
        assert!(!w.contains("agent.flow"), "{w}");
        let e = l.agent_settings().unwrap_err().to_string();
        assert!(e.contains("agent.flow.probes") && e.contains("pcap"), "{e}");
    }

    #[test]
    fn the_seed_file_loads_without_warnings() {
        let f = file(
            "analyzer:\n  listen: 0.0.0.0:8082\n\nagent:\n  listen: 0.0.0.0:8081\n  analyzers: 127.0.0.1:8082\n  \
             topology:\n    probes:\n      - netns\n      - netlink\n      - ovsdb\n  flow:\n    probes:\n      - ovssflow\n",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let a = l.agent_settings().unwrap();
        assert_eq!(a.agent.flow.probes, ["ovssflow"]);
        assert_eq!(a.analyzers, ["127.0.0.1:8082"]);
        let c = a.captures();
        assert_eq!(
            (c.sflow.port_min, c.sflow.port_max, c.flow.update),
            (6345, 6355, 2)
        );
    }

    #[test]
    fn agent_keys_and_both_analyzer_forms() {
        let l = load_with(&[], &env(), false).unwrap();
        let a = l.agent_settings().unwrap();
        assert_eq!(a.analyzers, [DEFAULT_ANALYZER]);
        assert_eq!(a.agent.listen, "127.0.0.1:8081");
        assert_eq!(
            a.topology().netns.run_path,
            std::path::Path::new("/var/run/netns")
        );

        // Skydive's seed form: one string, at the top level.
        let f = file(
            "analyzers: 10.0.0.1:8082
",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert_eq!(l.agent_settings().unwrap().analyzers, ["10.0.0.1:8082"]);
        // A list under agent wins over the top level.
        let f = file(
            "analyzers: [10.0.0.1:8082]
agent:
  analyzers: [a:1, b:2]
  listen: 127.0.0.1:0
  metadata:
    rack: r1
  topology:
    probes: [ovsdb]
    netlink:
      metrics_update: 5
      socket_buffer_bytes: 65536
    netns:
      run_path: /run/netns
ovs:
  ovsdb: tcp:127.0.0.1:6640
",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let a = l.agent_settings().unwrap();
        assert_eq!(a.analyzers, ["a:1", "b:2"]);
        let t = a.topology();
        assert_eq!(t.netlink.metrics_update, 5);
        assert_eq!(t.netlink.socket_buffer_bytes, 65536);
        assert_eq!(t.netns.run_path, std::path::Path::new("/run/netns"));
        assert_eq!(t.probes, ["ovsdb"]);
        assert_eq!(t.metadata["rack"], "r1");
        assert_eq!(t.ovs.ovsdb, "tcp:127.0.0.1:6640");
        // No analyzer at all: a standalone agent.
        let f = file(
            "agent:
  analyzers: []
",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert!(l.agent_settings().unwrap().analyzers.is_empty());

        // From the environment, comma-separated.
        let e = MapEnv::new([
            ("HOME", "/h"),
            ("SKYDIVE_AGENT_ANALYZERS", "h1:1,h2:2"),
            ("SKYDIVE_AGENT_TOPOLOGY_NETLINK_METRICS_UPDATE", "7"),
        ]);
        let l = load_with(&[], &e, false).unwrap();
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let a = l.agent_settings().unwrap();
        assert_eq!(a.analyzers, ["h1:1", "h2:2"]);
        assert_eq!(a.agent.topology.netlink.metrics_update, 7);

        // Invalid agent values name their key, at agent start only.
        let f = file(
            "agent:
  topology:
    netns:
      run_path: relative
",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        let err = format!("{:#}", l.agent_settings().unwrap_err());
        assert!(err.contains("agent.topology.netns.run_path"), "{err}");
    }

    #[test]
    fn environment_overrides_match_known_keys_even_with_underscores() {
        let e = MapEnv::new([
            ("HOME", "/h"),
            ("SKYDIVE_ANALYZER_LISTEN", "127.0.0.1:1234"),
            ("SKYDIVE_HTTP_WS_QUEUE_SIZE", "42"),
            ("SKYDIVE_HTTP_WS_ENABLE_WRITE_COMPRESSION", "false"),
            ("SKYDIVE_STORAGE_DATA_DIR", "/tmp/x"),
            ("SKYDIVE_STORAGE_RETENTION_SECS", "60"),
            ("SKYDIVE_LOGGING_LEVEL", "DEBUG"),
            ("SKYDIVE_NOT_A_KEY", "1"),
        ]);
        let l = load_with(&[], &e, false).unwrap();
        assert_eq!(l.config.analyzer.listen, "127.0.0.1:1234");
        assert_eq!(l.config.http.ws.queue_size, 42);
        assert!(!l.config.http.ws.enable_write_compression);
        assert_eq!(l.config.logging.level, "DEBUG");
        assert_eq!(l.settings.effective_config["storage"]["data_dir"], "/tmp/x");
        assert_eq!(l.settings.history.as_ref().unwrap().retention_secs, 60);
        assert_eq!(
            l.warnings,
            ["environment variable SKYDIVE_NOT_A_KEY matches no configuration key (ignored)"]
        );
    }

    #[test]
    fn environment_values_are_typed() {
        let e = MapEnv::new([("SKYDIVE_HTTP_WS_QUEUE_SIZE", "lots")]);
        let err = load_with(&[], &e, false).unwrap_err().to_string();
        assert!(
            err.contains("SKYDIVE_HTTP_WS_QUEUE_SIZE") && err.contains("expected a number"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let f = file("http:\n  ws:\n    queue_size: many\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(err.contains("`http.ws.queue_size`"), "{err}");
        let f = file("analyzer:\n  topology:\n    backend: elasticsearch\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(err.contains("`elasticsearch` is not supported"), "{err}");
        let f = file("storage:\n  retention: 5\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(
            err.contains("storage.retention") && err.contains("unknown field"),
            "{err}"
        );
        let f = file("storage:\n  buffer_events: 0\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(err.contains("storage.buffer_events"), "{err}");
        let f = file("- a\n- b\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(err.contains("top level must be a mapping"), "{err}");
        let f = file("logging:\n  level: LOUD\n");
        let err = format!(
            "{:#}",
            load_with(&[f.path().to_owned()], &env(), false).unwrap_err()
        );
        assert!(err.contains("logging.level"), "{err}");
    }

    #[test]
    fn skydive_named_storage_sections_are_reported_not_fatal() {
        let f = file(
            "storage:\n  elasticsearch:\n    driver: elasticsearch\n    hosts: [a]\n  retention_secs: 10\n",
        );
        let l = load_with(&[f.path().to_owned()], &env(), false).unwrap();
        assert_eq!(l.settings.history.as_ref().unwrap().retention_secs, 10);
        assert!(
            l.warnings
                .iter()
                .any(|w| w.starts_with("storage.elasticsearch:")),
            "{:?}",
            l.warnings
        );
    }

    #[test]
    fn memory_backend_has_no_history_and_later_files_win() {
        let a = file("analyzer:\n  topology:\n    backend: memory\n  listen: 1.2.3.4:1\n");
        let b = file("analyzer:\n  listen: 127.0.0.1:2\n");
        let l = load_with(&[a.path().to_owned(), b.path().to_owned()], &env(), false).unwrap();
        assert!(l.settings.history.is_none());
        assert_eq!(l.config.analyzer.listen, "127.0.0.1:2");
    }

    #[test]
    fn every_key_is_documented() {
        let l = load_with(&[], &env(), false).unwrap();
        let mut keys = BTreeMap::new();
        leaves("", &l.settings.effective_config, &mut keys);
        let doc = include_str!("../../../docs/config.md");
        for k in keys.keys() {
            assert!(
                doc.contains(&format!("| `{k}` |")),
                "`{k}` is missing from docs/config.md"
            );
        }
    }

    #[test]
    fn every_yaml_example_in_the_docs_loads_without_warnings() {
        let mut n = 0;
        for doc in [
            include_str!("../../../docs/config.md"),
            include_str!("../../../README.md"),
        ] {
            for block in doc.split("```yaml").skip(1) {
                let yaml = block.split("```").next().unwrap();
                let f = file(yaml);
                let l = load_with(&[f.path().to_owned()], &env(), false)
                    .unwrap_or_else(|e| panic!("{e:#}\n{yaml}"));
                assert!(l.warnings.is_empty(), "{:?}\n{yaml}", l.warnings);
                n += 1;
            }
        }
        assert!(n > 0, "the docs show no YAML example");
    }
}
