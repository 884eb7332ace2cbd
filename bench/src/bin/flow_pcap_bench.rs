//! Flow table benchmark: packets per second for decode + flow table update on one core, over
//! a pcap read fully into memory first (`../shared/perf/data/flows-1m.pcap`, made by
//! `../shared/perf/make-inputs.sh 1m`), checked against the file's manifest.
//!
//! Usage:
//!   flow_pcap_bench [PCAP] [--runs N]       timed runs in this process (default 5)
//!   flow_pcap_bench flows-from-pcap PCAP [OUT.jsonl]
//!       one whole pass as `run-peers.sh` times a peer (CANDIDATE_PCAP): read (in 4 MiB
//!       blocks), decode, account, flush, write every flow record the table emits (updates
//!       and final records) as JSON lines to OUT (if given); the last line printed is
//!       `packets=N flows=M`.
//!
//! Time is the packets' own (the pcap's timestamps drive the 2 s updates); records the table
//! emits are drained every 1024 packets, as a capture thread hands batches over.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use skydive_flow::pcap::PcapReader;
use skydive_flow::{CaptureIds, FlowTable, FlowUpdate, Layers, TableConfig, decode};

/// The `skydive` binary's allocator (huge pages for the flow table's slabs), so the figures
/// are the product's.
#[global_allocator]
static ALLOC: skydive_probes::HugePageAlloc = skydive_probes::HugePageAlloc;

/// CPU time of this thread, in ns (`/proc/thread-self/schedstat`: exact, unlike the 10 ms
/// ticks of `/proc/self/stat`). On a shared machine this, not wall time, is one core's work.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn default_pcap() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/perf/data/flows-1m.pcap")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("flows-from-pcap") {
        let Some(pcap) = args.get(1) else {
            eprintln!("usage: flow_pcap_bench flows-from-pcap PCAP [OUT.jsonl]");
            std::process::exit(2);
        };
        flows_from_pcap(Path::new(pcap), args.get(2).map(Path::new));
        return;
    }
    let mut pcap = default_pcap();
    let mut runs = 5;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(runs),
            other => pcap = PathBuf::from(other),
        }
    }
    bench(&pcap, runs);
}

fn read(pcap: &Path) -> Vec<u8> {
    std::fs::read(pcap).unwrap_or_else(|e| {
        eprintln!(
            "{}: {e} (generate it with ../shared/perf/make-inputs.sh 1m)",
            pcap.display()
        );
        std::process::exit(1)
    })
}

/// What one pass over the file produced.
struct Pass {
    packets: u64,
    flows_created: u64,
    records: u64,
    inner_flows: u64,
    decode_errors: u64,
    dropped: u64,
}

/// Skydive's defaults but room for 4M flows, softflowd's `-m 4000000` in the peer harness:
/// the 10M-packet file holds 1M conversations, more than `flow.max_entries`' 500k default.
fn table_config() -> TableConfig {
    TableConfig {
        max_entries: 4_000_000,
        ..TableConfig::default()
    }
}

/// Packets between two drains of the table's outbox.
const DRAIN_EVERY: u64 = 1024;

/// Decode + account every packet of `file` in a fresh table; `sink` gets every record.
fn pass(file: &[u8], mut sink: impl FnMut(&FlowTable, &FlowUpdate)) -> Pass {
    let reader = PcapReader::new(file).expect("a pcap file");
    let link = reader.link_type().expect("a link type we decode");
    let mut table = FlowTable::new(table_config(), CaptureIds::default());
    let mut out = Vec::with_capacity(8192);
    let mut packets = 0u64;
    let mut last = None;
    // Every VXLAN inner flow emits at least one record (the final one, if no other): their
    // distinct UUIDs count them, whether or not they were removed before the end (finished
    // TCP flows leave the table 15 s after their FIN).
    let mut inner = std::collections::HashSet::new();
    let mut drain = |table: &mut FlowTable, out: &mut Vec<FlowUpdate>| {
        table.drain_emitted(out);
        for f in out.iter() {
            if f.parent_uuid != 0 {
                inner.insert(f.uuid);
            }
            sink(table, f);
        }
        out.clear();
    };
    for rec in reader {
        let rec = rec.expect("a well-formed record");
        let _ = table.process_frame(rec.data, rec.orig_len, link, rec.ts);
        last = Some(rec.ts);
        packets += 1;
        // Hand the records over in batches, as a capture thread does.
        if packets.is_multiple_of(DRAIN_EVERY) && table.pending() > 0 {
            drain(&mut table, &mut out);
        }
    }
    if let Some(ts) = last {
        table.flush(ts);
    }
    let stats = table.stats().clone();
    let mut records = stats.updates_emitted;
    drain(&mut table, &mut out);
    records = records.max(stats.updates_emitted);
    Pass {
        packets,
        flows_created: stats.flows_created,
        records,
        inner_flows: inner.len() as u64,
        decode_errors: stats.decode_errors.total(),
        dropped: stats.flows_dropped,
    }
}

/// Decode only: the floor under the table.
fn decode_pass(file: &[u8]) -> u64 {
    let reader = PcapReader::new(file).expect("a pcap file");
    let link = reader.link_type().expect("a link type we decode");
    let mut segments = 0u64;
    let mut layers = Layers::new();
    for rec in reader {
        let rec = rec.expect("a well-formed record");
        let _ = decode(rec.data, rec.orig_len, link, &mut layers);
        segments += layers.len() as u64;
    }
    segments
}

struct Manifest {
    packets: u64,
    conversations: u64,
    vxlan_inner: u64,
}

fn manifest(pcap: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(format!("{}.json", pcap.display())).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(Manifest {
        packets: v["packets"].as_u64()?,
        conversations: v["conversations"].as_u64()?,
        vxlan_inner: v["vxlan_inner_conversations"].as_u64()?,
    })
}

fn bench(pcap: &Path, runs: usize) {
    let t = Instant::now();
    let file = read(pcap);
    println!(
        "{}: {} MB read in {:.0} ms",
        pcap.display(),
        file.len() / 1_000_000,
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut rates = Vec::new();
    let mut wall_rates = Vec::new();
    let mut last = None;
    for run in 0..runs {
        let cpu = thread_cpu_ns();
        let t = Instant::now();
        let p = pass(&file, |_, _| {});
        let wall = t.elapsed().as_secs_f64();
        let cpu = (thread_cpu_ns() - cpu) as f64 / 1e9;
        println!(
            "run {run}: {} packets in {:.1} ms CPU ({:.1} ms wall): {:.2} M packets/CPU-s, {} flows, {} records",
            p.packets,
            cpu * 1e3,
            wall * 1e3,
            p.packets as f64 / cpu / 1e6,
            p.flows_created,
            p.records
        );
        rates.push(p.packets as f64 / cpu);
        wall_rates.push(p.packets as f64 / wall);
        last = Some(p);
    }
    let Some(p) = last else { return };
    rates.sort_by(f64::total_cmp);
    wall_rates.sort_by(f64::total_cmp);
    let cpu = thread_cpu_ns();
    let segments = decode_pass(&file);
    let decode_rate = p.packets as f64 / ((thread_cpu_ns() - cpu) as f64 / 1e9);

    println!(
        "decode + table: median {:.2} M packets/CPU-s (min {:.2}, max {:.2}); wall: median {:.2} M packets/s ({runs} runs, one thread)",
        rates[rates.len() / 2] / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6,
        wall_rates[wall_rates.len() / 2] / 1e6,
    );
    println!(
        "decode only:    {:.2} M packets/CPU-s ({segments} segments)",
        decode_rate / 1e6
    );
    let outer = p.flows_created - p.inner_flows;
    println!(
        "flows: {} created ({} outer, {} VXLAN inner), {} records emitted, {} decode errors, {} dropped",
        p.flows_created, outer, p.inner_flows, p.records, p.decode_errors, p.dropped
    );
    if let Some(m) = manifest(pcap) {
        let ok_packets = p.packets == m.packets;
        let ok_inner = p.inner_flows == m.vxlan_inner;
        // Every conversation is one flow; VXLAN ones also share a few outer tunnel flows.
        let tunnel_flows = outer.saturating_sub(m.conversations - m.vxlan_inner);
        println!(
            "manifest check: packets {} {} | VXLAN inner flows {} {} | conversations {} = {} flows + {} tunnel flows",
            m.packets,
            mark(ok_packets),
            m.vxlan_inner,
            mark(ok_inner),
            m.conversations,
            outer - tunnel_flows + p.inner_flows,
            tunnel_flows
        );
        if !(ok_packets && ok_inner) || p.decode_errors > 0 || p.dropped > 0 {
            eprintln!("CHECK FAILED");
            std::process::exit(1);
        }
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// `run-peers.sh`'s candidate: one whole pass, then `packets=N` on the last line. The file
/// is read in 4 MiB blocks (as the C floor does), not all at once: a whole-process figure
/// should not pay for faulting in a copy of the file.
fn flows_from_pcap(pcap: &Path, out: Option<&Path>) {
    let mut writer = out.map(|p| {
        std::io::BufWriter::with_capacity(
            1 << 20,
            std::fs::File::create(p).unwrap_or_else(|e| {
                eprintln!("{}: {e}", p.display());
                std::process::exit(1)
            }),
        )
    });
    let mut emit = |table: &FlowTable, u: &FlowUpdate| {
        if let Some(w) = writer.as_mut() {
            serde_json::to_writer(&mut *w, &u.to_flow(table.ids())).expect("a flow serialises");
            w.write_all(b"\n").expect("the output file is writable");
        }
    };
    let p = stream_pass(pcap, &mut emit).unwrap_or_else(|e| {
        eprintln!("{}: {e}", pcap.display());
        std::process::exit(1)
    });
    if let Some(mut w) = writer {
        w.flush().expect("the output file is writable");
    }
    println!(
        "flows={} records={} decode_errors={} dropped={}",
        p.flows_created, p.records, p.decode_errors, p.dropped
    );
    println!("packets={} flows={}", p.packets, p.flows_created);
}

/// [`pass`] over a file read block by block.
fn stream_pass(
    pcap: &Path,
    sink: &mut impl FnMut(&FlowTable, &FlowUpdate),
) -> std::io::Result<Pass> {
    use std::io::Read;
    const BLOCK: usize = 4 << 20;
    let mut file = std::fs::File::open(pcap)?;
    let mut header = [0u8; 24];
    file.read_exact(&mut header)?;
    let first = PcapReader::new(&header).map_err(std::io::Error::other)?;
    let link = first
        .link_type()
        .ok_or_else(|| std::io::Error::other("a link type this tool does not decode"))?;
    let mut table = FlowTable::new(table_config(), CaptureIds::default());
    let mut out = Vec::with_capacity(8192);
    let mut buf = vec![0u8; 2 * BLOCK];
    let (mut filled, mut packets, mut last) = (0usize, 0u64, None);
    loop {
        let n = file.read(&mut buf[filled..filled + BLOCK])?;
        filled += n;
        let mut reader = first.resume(&buf[..filled]);
        while let Some(rec) = reader.next_complete() {
            let rec = rec.map_err(std::io::Error::other)?;
            let _ = table.process_frame(rec.data, rec.orig_len, link, rec.ts);
            last = Some(rec.ts);
            packets += 1;
            if packets.is_multiple_of(DRAIN_EVERY) && table.pending() > 0 {
                table.drain_emitted(&mut out);
                out.iter().for_each(|u| sink(&table, u));
                out.clear();
            }
        }
        let rest = reader.remaining().len();
        buf.copy_within(filled - rest..filled, 0);
        filled = rest;
        if n == 0 {
            break;
        }
    }
    if let Some(ts) = last {
        table.flush(ts);
    }
    table.drain_emitted(&mut out);
    out.iter().for_each(|u| sink(&table, u));
    let stats = table.stats();
    Ok(Pass {
        packets,
        flows_created: stats.flows_created,
        records: stats.updates_emitted,
        inner_flows: 0,
        decode_errors: stats.decode_errors.total(),
        dropped: stats.flows_dropped,
    })
}
