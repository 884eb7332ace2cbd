//! What the `ovsdb` probe monitors, and its mirror of those rows.
//!
//! The probe sends one RFC 7047 `monitor` on `Open_vSwitch` for the tables [`TABLES`] (only
//! the columns the server's schema has, so older or newer OVS versions both work), keeps the
//! rows of the reply in a [`Mirror`], and applies every `update` notification to it. After a
//! reconnection the mirror is rebuilt from the new reply, which is how rows that disappeared
//! while disconnected are noticed.
//!
//! Updates are applied leniently: a row update that is not an object is counted as malformed
//! and skipped; a table-updates value that is not an object is an error (the caller resyncs).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::datum::Row;

/// The database the probe monitors.
pub const DB: &str = "Open_vSwitch";

/// Tables and columns (Skydive's set; `statistics` only with `ovs.enable_stats`).
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "Open_vSwitch",
        &["ovs_version", "db_version", "other_config", "external_ids"],
    ),
    (
        "Bridge",
        &["name", "ports", "other_config", "external_ids", "protocols"],
    ),
    (
        "Port",
        &[
            "name",
            "interfaces",
            "tag",
            "trunks",
            "bond_mode",
            "lacp",
            "external_ids",
            "other_config",
        ],
    ),
    (
        "Interface",
        &[
            "name",
            "type",
            "ofport",
            "mac_in_use",
            "ifindex",
            "external_ids",
            "other_config",
            "options",
            "error",
            "status",
            "statistics",
        ],
    ),
];

/// The `monitor` requests for [`TABLES`], keeping only tables and columns `schema` (the reply
/// of `get_schema`) has. `None` as schema keeps everything.
pub fn requests(schema: Option<&Value>, enable_stats: bool) -> Value {
    let mut out = Map::new();
    for (table, columns) in TABLES {
        let known = schema.map(|s| &s["tables"][*table]["columns"]);
        if known.is_some_and(|k| !k.is_object()) {
            continue;
        }
        let cols: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| enable_stats || *c != "statistics")
            .filter(|c| known.is_none_or(|k| k.get(*c).is_some()))
            .collect();
        out.insert((*table).into(), json!([{ "columns": cols }]));
    }
    Value::Object(out)
}

/// A table-updates value that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed table updates: {0}")]
pub struct MonitorError(pub &'static str);

/// The monitored rows: table → row UUID → row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mirror {
    tables: BTreeMap<String, BTreeMap<String, Row>>,
}

/// What one update changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    pub inserted: u64,
    pub modified: u64,
    pub deleted: u64,
    /// Row updates skipped because of their shape.
    pub malformed: u64,
}

impl Mirror {
    /// A mirror holding the rows of a monitor reply.
    pub fn from_initial(initial: &Value) -> Result<(Mirror, Applied), MonitorError> {
        let mut m = Mirror::default();
        let a = m.apply(initial)?;
        Ok((m, a))
    }

    /// Applies a table-updates value (`{table: {uuid: {"old": …, "new": …}}}`).
    pub fn apply(&mut self, updates: &Value) -> Result<Applied, MonitorError> {
        let tables = updates.as_object().ok_or(MonitorError("not an object"))?;
        let mut a = Applied::default();
        for (table, rows) in tables {
            if !TABLES.iter().any(|(t, _)| t == table) {
                continue;
            }
            let Some(rows) = rows.as_object() else {
                a.malformed += 1;
                continue;
            };
            let mirror = self.tables.entry(table.clone()).or_default();
            for (uuid, update) in rows {
                let Some(update) = update.as_object() else {
                    a.malformed += 1;
                    continue;
                };
                match (update.get("new"), update.get("initial")) {
                    (Some(Value::Object(new)), _) | (None, Some(Value::Object(new))) => {
                        match mirror.get_mut(uuid) {
                            Some(row) => {
                                for (k, v) in new {
                                    row.0.insert(k.clone(), v.clone());
                                }
                                a.modified += 1;
                            }
                            None => {
                                mirror.insert(uuid.clone(), Row(new.clone()));
                                a.inserted += 1;
                            }
                        }
                    }
                    (None, None) if update.contains_key("old") || update.is_empty() => {
                        if mirror.remove(uuid).is_some() {
                            a.deleted += 1;
                        }
                    }
                    _ => a.malformed += 1,
                }
            }
        }
        Ok(a)
    }

    /// Rows of `table`, by UUID.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&str, &Row)> + '_ {
        self.tables
            .get(table)
            .into_iter()
            .flat_map(|t| t.iter().map(|(u, r)| (u.as_str(), r)))
    }

    pub fn row(&self, table: &str, uuid: &str) -> Option<&Row> {
        self.tables.get(table)?.get(uuid)
    }

    pub fn len(&self, table: &str) -> usize {
        self.tables.get(table).map_or(0, BTreeMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.tables.values().all(BTreeMap::is_empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_schema() {
        let all = requests(None, false);
        assert_eq!(all["Bridge"][0]["columns"][0], "name");
        assert!(
            !all["Interface"][0]["columns"]
                .as_array()
                .unwrap()
                .contains(&json!("statistics"))
        );
        let schema = json!({"tables": {
            "Open_vSwitch": {"columns": {"ovs_version": {}}},
            "Bridge": {"columns": {"name": {}, "ports": {}}},
            "Port": {"columns": {"name": {}}},
            "Interface": {"columns": {"name": {}, "statistics": {}}},
        }});
        let r = requests(Some(&schema), true);
        assert_eq!(r["Bridge"], json!([{"columns": ["name", "ports"]}]));
        assert_eq!(r["Interface"], json!([{"columns": ["name", "statistics"]}]));
        let no_port = json!({"tables": {"Bridge": {"columns": {"name": {}}}}});
        assert!(requests(Some(&no_port), false).get("Port").is_none());
    }

    #[test]
    fn applies_insert_modify_delete_and_skips_odd_rows() {
        let (mut m, a) = Mirror::from_initial(&json!({
            "Bridge": {"b1": {"new": {"name": "br0", "ports": ["set", []]}}},
            "Port": {"p1": {"new": {"name": "p"}}},
            "Nope": {"x": {"new": {}}},
        }))
        .unwrap();
        assert_eq!(a.inserted, 2);
        assert_eq!(m.len("Bridge"), 1);
        let a = m
            .apply(&json!({
                "Bridge": {"b1": {"old": {"ports": ["set", []]}, "new": {"ports": ["uuid", "p1"]}}},
                "Port": {"p1": {"old": {"name": "p"}}, "p2": 5, "p3": {"new": 7}},
                "Interface": 3,
            }))
            .unwrap();
        assert_eq!(
            a,
            Applied {
                inserted: 0,
                modified: 1,
                deleted: 1,
                malformed: 3
            }
        );
        let b = m.row("Bridge", "b1").unwrap();
        assert_eq!(
            b.str("name"),
            Some("br0"),
            "partial new keeps other columns"
        );
        assert_eq!(b.uuids("ports"), ["p1"]);
        assert_eq!(m.len("Port"), 0);
        assert!(m.apply(&json!([1])).is_err());
        // monitor_cond's "initial" form is accepted too.
        m.apply(&json!({"Port": {"p9": {"initial": {"name": "q"}}}}))
            .unwrap();
        assert_eq!(m.row("Port", "p9").unwrap().str("name"), Some("q"));
    }
}
