use serde_json::json;
use skydive_graph::*;
use skydive_store::*;
use std::time::Instant;

fn main() {
    if let Ok(d) = std::env::var("READ_DIR") {
        let store = HistoryStore::open(HistoryConfig {
            retention_check_secs: 0,
            ..HistoryConfig::in_dir(&d)
        })
        .unwrap();
        let now = TimeMs::now();
        for _ in 0..5 {
            let t = Instant::now();
            let (ns, es) = store.revisions(TimeSlice::at(now)).unwrap();
            let r = t.elapsed();
            let t = Instant::now();
            drop((ns, es));
            println!("revisions {:?} drop {:?}", r, t.elapsed());
        }
        return;
    }
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().unwrap())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var("KEEP_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or(dir.path().to_path_buf());
    let store = HistoryStore::open(HistoryConfig {
        retention_check_secs: 0,
        ..HistoryConfig::in_dir(&path)
    })
    .unwrap();
    let mut g = Graph::new(GraphOptions::new("h", "analyzer.h"));
    g.set_changelog(store.changelog());
    let t = Instant::now();
    let mut prev: Option<Id> = None;
    for i in 0..n {
        let id = gen_id(&[&i.to_string()]);
        g.create_node(
            id.clone(),
            Metadata::from_pairs([
                ("Name", json!(format!("veth{i}"))),
                ("Type", json!("veth")),
                ("TID", json!(&*id)),
                ("IfIndex", json!(i)),
                ("MTU", json!(1500)),
                (
                    "MAC",
                    json!(format!(
                        "02:00:00:{:02x}:{:02x}:{:02x}",
                        i >> 16 & 0xff,
                        i >> 8 & 0xff,
                        i & 0xff
                    )),
                ),
                ("State", json!("UP")),
                ("Driver", json!("veth")),
                ("EncapType", json!("ether")),
                ("LinkFlags", json!(["UP", "BROADCAST", "MULTICAST"])),
                (
                    "IPV4",
                    json!([format!("10.0.{}.{}/16", i >> 8 & 0xff, i & 0xff)]),
                ),
            ]),
        )
        .unwrap();
        if let Some(p) = prev.replace(id.clone()) {
            g.create_edge(
                gen_id(&[&p, &id]),
                p,
                id,
                Metadata::from_pairs([("RelationType", json!("layer2"))]),
            )
            .unwrap();
        }
    }
    let built = t.elapsed();
    store.flush().unwrap();
    println!(
        "build+record {:?}, flush done at {:?}; {:?}",
        built,
        t.elapsed(),
        store.stats()
    );
    let t = Instant::now();
    store.checkpoint_now().unwrap();
    println!("checkpoint {:?}", t.elapsed());
    let now = TimeMs::now();
    for _ in 0..3 {
        let t = Instant::now();
        let (ns, es) = store.revisions(TimeSlice::at(now)).unwrap();
        let r = t.elapsed();
        let t = Instant::now();
        let v = store.view(TimeSlice::at(now)).unwrap();
        println!(
            "revisions {:?} ({} nodes {} edges); view {:?} ({})",
            r,
            ns.len(),
            es.len(),
            t.elapsed(),
            GraphView::node_count(&v)
        );
    }
    // updates after the checkpoint
    let ids: Vec<Id> = g.nodes().map(|n| n.id.clone()).collect();
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        g.set_node_metadata(id, "Metric", json!({"RxBytes": i, "TxBytes": i * 2}))
            .unwrap();
    }
    store.flush().unwrap();
    println!(
        "{} updates recorded+flushed in {:?}",
        ids.len(),
        t.elapsed()
    );
    let now2 = TimeMs::now();
    let t = Instant::now();
    let (ns, _) = store.revisions(TimeSlice::at(now2)).unwrap();
    println!(
        "revisions after updates (ckpt + replay of n) {:?} ({})",
        t.elapsed(),
        ns.len()
    );
    let t = Instant::now();
    let (ns, _) = store
        .revisions(TimeSlice {
            start: now,
            last: now2,
        })
        .unwrap();
    println!("slice revisions {:?} ({})", t.elapsed(), ns.len());
    let t = Instant::now();
    let (ns, es) = store.last_state().unwrap();
    println!("last_state {:?} ({} {})", t.elapsed(), ns.len(), es.len());
    println!("{:?}", store.stats());
    let t = Instant::now();
    store.close().unwrap();
    println!("close {:?}", t.elapsed());
}
