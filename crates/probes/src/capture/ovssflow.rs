//! `ovssflow` captures: Open vSwitch samples a bridge's packets and sends them to a collector
//! of this agent, whose flows are attributed to the bridge (`NodeTID` = the bridge's TID).
//!
//! # The `sFlow` row's life
//! - **Start**: the agent opens a collector on `agent.flow.sflow.bind_address` with the first
//!   free port of `port_min..=port_max`, then, in one OVSDB transaction, inserts an `sFlow`
//!   row and points the bridge's `sflow` column at it:
//!   `{agent: "lo", targets: ["127.0.0.1:<port>"], header: HeaderSize, sampling:
//!   SamplingRate, polling: PollingInterval, external_ids: {skydive-probe-id: <agent id>,
//!   skydive-capture-id: <capture ID>}}`. The transaction also checks (`wait`) that the
//!   bridge's `sflow` is still what the agent read: a bridge already sampled by someone else's
//!   row is refused (the error names the row), never overwritten; a row of this agent (left
//!   by a crash) is replaced.
//! - **Stop**: the bridge's `sflow` is set to `[]` if it still points at the capture's row;
//!   OVSDB deletes the row itself (`sFlow` is not a root table, so unreferenced rows go).
//! - **Crash or kill**: the row stays and OVS keeps sending to a closed port. At its next
//!   start the agent calls [`cleanup_stale_sflow`], which detaches every row whose
//!   `skydive-probe-id` is the agent's id; it also runs when the agent exits gracefully after
//!   stopping its captures.
//!
//! `agent` is the interface whose address OVS reports as the sFlow agent address; `lo`
//! exists in every namespace (Skydive's choice too). The collector's address in `targets` is
//! the bound address, or the loopback address when bound to the unspecified address.
//!
//! Must not: change a bridge's `sflow` unless it is empty or points at this agent's row.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};
use skydive_flow::{CaptureIds, TableConfig};

use super::collector::CollectorOptions;
use super::config::CapturesConfig;
use super::{CaptureError, CaptureSettings};
use crate::ovsdb::datum::{named_uuid, set, string_map, uuid};
use crate::ovsdb::{
    ClientOptions, Condition, Operation, OvsConfig, OvsdbAddress, OvsdbClient, TransactReply,
};

/// The database.
const DB: &str = "Open_vSwitch";
/// The external id naming the agent that wrote a row.
pub const PROBE_ID_KEY: &str = "skydive-probe-id";
/// The external id naming the capture that wrote a row.
pub const CAPTURE_ID_KEY: &str = "skydive-capture-id";
/// The interface OVS takes the agent address from.
pub const AGENT_INTERFACE: &str = "lo";

/// A row this agent attached to a bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SflowRow {
    pub address: OvsdbAddress,
    pub max_message_bytes: usize,
    pub bridge_uuid: String,
    pub bridge_name: String,
    pub row_uuid: String,
}

/// What the `targets` column says for a collector bound to `local`.
pub fn target_for(local: SocketAddr) -> String {
    let ip = match local.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port()).to_string()
}

async fn connect(ovs: &OvsConfig) -> Result<(OvsdbAddress, OvsdbClient), CaptureError> {
    let address = ovs.address().map_err(CaptureError::Config)?;
    let opts = ClientOptions {
        max_message_bytes: ovs.max_message_bytes,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let (client, _notes) = OvsdbClient::connect(&address, opts).await?;
    Ok((address, client))
}

/// The collector of an `ovssflow` capture: the first free port of `port_min..=port_max`.
pub fn collector_options(
    cfg: &CapturesConfig,
    table: TableConfig,
    ids: CaptureIds,
    netns: Option<PathBuf>,
) -> CollectorOptions {
    CollectorOptions {
        bind: cfg.sflow.bind_address,
        ports: cfg.sflow.port_min..=cfg.sflow.port_max,
        rcvbuf_bytes: cfg.sflow.rcvbuf_bytes,
        netns,
        table,
        ids,
        queue_size: cfg.capture.queue_size,
    }
}

fn first_uuid(row: &crate::ovsdb::datum::Row) -> Option<String> {
    row.uuids("_uuid").into_iter().next()
}

/// Attaches a new `sFlow` row pointing at `target` to bridge `bridge_uuid` (see the module
/// docs).
pub async fn attach(
    ovs: &OvsConfig,
    bridge_uuid: &str,
    settings: &CaptureSettings,
    target: &str,
    agent_id: &str,
    capture_id: &str,
) -> Result<SflowRow, CaptureError> {
    let (address, client) = connect(ovs).await?;
    let reply = client
        .transact(
            DB,
            &[
                Operation::select("Bridge", vec![Condition::eq("_uuid", uuid(bridge_uuid))])
                    .with_columns(["name", "sflow"]),
            ],
        )
        .await?;
    let Some(bridge) = reply.rows(0).into_iter().next() else {
        return Err(CaptureError::Ovs(format!(
            "no Bridge row {bridge_uuid} in OVSDB (was the bridge deleted?)"
        )));
    };
    let bridge_name = bridge.str("name").unwrap_or_default().to_owned();
    let current = bridge.uuids("sflow");
    if let Some(existing) = current.first() {
        let reply = client
            .transact(
                DB,
                &[
                    Operation::select("sFlow", vec![Condition::eq("_uuid", uuid(existing))])
                        .with_columns(["external_ids", "targets"]),
                ],
            )
            .await?;
        let owner = reply
            .rows(0)
            .first()
            .and_then(|r| r.map_value("external_ids", PROBE_ID_KEY));
        if owner.as_deref() != Some(agent_id) {
            return Err(CaptureError::Ovs(format!(
                "bridge `{bridge_name}` already has an sFlow configuration (row {existing}{}) that \
                 this agent did not make; remove it (ovs-vsctl clear bridge {bridge_name} sflow) \
                 or capture its exporter with an `sflow` capture",
                owner
                    .map(|o| format!(", made by agent `{o}`"))
                    .unwrap_or_default()
            )));
        }
        tracing::info!(bridge = %bridge_name, row = %existing, "ovssflow: replacing this agent's stale sFlow row");
    }
    let current_set = set(current.iter().map(|u| uuid(u)));
    let ops = [
        Operation::insert(
            "sFlow",
            json!({
                "agent": AGENT_INTERFACE,
                "targets": set([Value::from(target)]),
                "header": settings.header_size,
                "sampling": settings.sampling_rate,
                "polling": settings.polling_interval,
                "external_ids": string_map([(PROBE_ID_KEY, agent_id), (CAPTURE_ID_KEY, capture_id)]),
            }),
        )
        .with_uuid_name("skydive_sflow"),
        Operation::Wait {
            table: "Bridge".into(),
            conditions: vec![Condition::eq("_uuid", uuid(bridge_uuid))],
            columns: vec!["sflow".into()],
            until: "==",
            rows: vec![Map::from_iter([("sflow".to_owned(), current_set)])],
            timeout: Some(0),
        },
        Operation::update(
            "Bridge",
            vec![Condition::eq("_uuid", uuid(bridge_uuid))],
            json!({ "sflow": named_uuid("skydive_sflow") }),
        ),
        Operation::comment(format!("skydive: ovssflow capture {capture_id} on {bridge_name}")),
    ];
    let reply = client.transact(DB, &ops).await.map_err(|e| match e {
        crate::ovsdb::ClientError::Transaction { index: 1, .. } => CaptureError::Ovs(format!(
            "bridge `{bridge_name}`'s sFlow configuration changed while the capture started; retry"
        )),
        e => e.into(),
    })?;
    let row_uuid = row_uuid(&reply)?;
    if reply.count(2) != Some(1) {
        return Err(CaptureError::Ovs(format!(
            "bridge `{bridge_name}` vanished while the capture started"
        )));
    }
    Ok(SflowRow {
        address,
        max_message_bytes: ovs.max_message_bytes,
        bridge_uuid: bridge_uuid.to_owned(),
        bridge_name,
        row_uuid,
    })
}

fn row_uuid(reply: &TransactReply) -> Result<String, CaptureError> {
    reply
        .uuid(0)
        .map(str::to_owned)
        .ok_or_else(|| CaptureError::Ovs("the sFlow row insert returned no uuid".into()))
}

/// Detaches `row` from its bridge (if the bridge still points at it); the server then
/// deletes the row.
pub async fn detach(row: &SflowRow) -> Result<(), CaptureError> {
    let ovs = OvsConfig {
        ovsdb: row.address.to_string(),
        max_message_bytes: row.max_message_bytes,
        ..OvsConfig::default()
    };
    let (_, client) = connect(&ovs).await?;
    client
        .transact(
            DB,
            &[
                Operation::update(
                    "Bridge",
                    vec![
                        Condition::eq("_uuid", uuid(&row.bridge_uuid)),
                        Condition::includes("sflow", uuid(&row.row_uuid)),
                    ],
                    json!({ "sflow": set([]) }),
                ),
                Operation::comment(format!(
                    "skydive: ovssflow capture stopped on {}",
                    row.bridge_name
                )),
            ],
        )
        .await?;
    Ok(())
}

/// Detaches every `sFlow` row this agent (`agent_id`, its host id) left on any bridge, e.g.
/// after a crash; OVSDB then deletes them. Returns how many rows were detached. The agent
/// calls it at start (before any capture) and at exit (after stopping its captures).
pub async fn cleanup_stale_sflow(ovs: &OvsConfig, agent_id: &str) -> Result<usize, CaptureError> {
    let (_, client) = connect(ovs).await?;
    let mine = Condition::includes("external_ids", string_map([(PROBE_ID_KEY, agent_id)]));
    let reply = client
        .transact(
            DB,
            &[
                Operation::select("sFlow", vec![mine]).with_columns(["_uuid"]),
                Operation::select("Bridge", vec![]).with_columns(["_uuid", "name", "sflow"]),
            ],
        )
        .await?;
    let stale: Vec<String> = reply.rows(0).iter().filter_map(first_uuid).collect();
    if stale.is_empty() {
        return Ok(0);
    }
    let mut ops = Vec::new();
    let mut names = Vec::new();
    for bridge in reply.rows(1) {
        let Some(b) = first_uuid(&bridge) else {
            continue;
        };
        for r in bridge.uuids("sflow") {
            if stale.contains(&r) {
                names.push(bridge.str("name").unwrap_or_default().to_owned());
                ops.push(Operation::update(
                    "Bridge",
                    vec![
                        Condition::eq("_uuid", uuid(&b)),
                        Condition::includes("sflow", uuid(&r)),
                    ],
                    json!({ "sflow": set([]) }),
                ));
            }
        }
    }
    if ops.is_empty() {
        return Ok(0);
    }
    ops.push(Operation::comment(format!(
        "skydive: agent {agent_id} removes its stale sFlow rows"
    )));
    let n = names.len();
    client.transact(DB, &ops).await?;
    tracing::info!(agent = agent_id, bridges = ?names, "ovssflow: removed stale sFlow rows left by a previous run");
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_reachable_address() {
        assert_eq!(
            target_for("127.0.0.1:6345".parse().unwrap()),
            "127.0.0.1:6345"
        );
        assert_eq!(
            target_for("0.0.0.0:6346".parse().unwrap()),
            "127.0.0.1:6346"
        );
        assert_eq!(target_for("[::]:6347".parse().unwrap()), "[::1]:6347");
        assert_eq!(
            target_for("10.0.0.5:6343".parse().unwrap()),
            "10.0.0.5:6343"
        );
    }
}
