//! sFlow benchmark: flow samples per second decoded and aggregated into a flow table on one
//! core, from datagrams held in memory; and a UDP collector for `run-peers.sh`.
//!
//! Usage:
//!   sflow_bench [--datagrams N] [--runs R]
//!       N datagrams (default 50000) built like `../shared/perf/sflow_blast.c` builds them
//!       (7 flow samples each, one 128-byte raw header per sample, 1:1000 sampling, 48
//!       ports, 5-tuples from a pool of 100000, a counter datagram every 50th), then R timed
//!       passes (default 5), each into a fresh table: CPU time of this thread, exact.
//!   sflow_bench sflow-collect --port P [--out FILE] [--rcvbuf BYTES]
//!       runs the agent's `sflow` capture (`skydive_probes::capture`: a collector thread
//!       with recvmmsg, the flow table, a thread making flow batches, drained here) on
//!       127.0.0.1:P until SIGTERM or SIGINT, then writes the number of flow samples it
//!       decoded into the table to FILE (default `samples.txt` in the working directory)
//!       and prints its counters: CANDIDATE_SFLOW / CANDIDATE_SFLOW_COUNT of
//!       `../shared/perf/run-peers.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use skydive_flow::sflow::{
    CounterRecord, CounterSampleInfo, Datagram, DatagramEncoder, FlowRecord, FlowSampleInfo,
    GenericInterfaceCounters, Interface, RawPacketHeader, Sample, SflowIngest, SourceId,
};
use skydive_flow::{CaptureIds, FlowTable, FlowUpdate, TableConfig, Timestamp};
use skydive_graph::{GraphOptions, Metadata, SharedGraph, gen_id};
use skydive_probes::capture::{
    self, CaptureContext, CaptureSpec, CaptureTarget, CapturesConfig, FlowBatch,
};

/// The `skydive` binary's allocator (huge pages for the flow table's slabs), so the figures
/// are the product's.
#[global_allocator]
static ALLOC: skydive_probes::HugePageAlloc = skydive_probes::HugePageAlloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if args.first().map(String::as_str) == Some("sflow-collect") {
        let Some(port) = opt("--port").and_then(|p| p.parse::<u16>().ok()) else {
            eprintln!("usage: sflow_bench sflow-collect --port P [--out FILE] [--rcvbuf BYTES]");
            std::process::exit(2);
        };
        let out = opt("--out").unwrap_or_else(|| "samples.txt".to_owned());
        let rcvbuf = opt("--rcvbuf").and_then(|v| v.parse().ok()).unwrap_or(0);
        collect(port, &out, rcvbuf);
        return;
    }
    let datagrams = opt("--datagrams")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let runs = opt("--runs").and_then(|v| v.parse().ok()).unwrap_or(5);
    bench(datagrams, runs);
}

/// CPU time of this thread, in ns (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// splitmix64, as `sflow_blast.c`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unif(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
}

/// One pool entry: Ethernet/IPv4/TCP or UDP headers, lengths filled per sample.
struct PoolFlow {
    hdr: Vec<u8>,
    tcp: bool,
}

fn pool(rng: &mut Rng, n: usize) -> Vec<PoolFlow> {
    const TCP_PORTS: [u16; 10] = [443, 443, 443, 443, 80, 80, 22, 8080, 3306, 6379];
    const UDP_PORTS: [u16; 10] = [53, 53, 53, 443, 443, 123, 514, 161, 4789, 5353];
    (0..n)
        .map(|_| {
            let r = rng.next();
            let mut src = [
                10,
                (r >> 8) as u8,
                (r >> 16) as u8,
                1 + ((r >> 24) % 254) as u8,
            ];
            let mut dst = [
                172,
                16 + ((r >> 32) % 16) as u8,
                (r >> 40) as u8,
                1 + ((r >> 48) % 254) as u8,
            ];
            let tcp = rng.unif() < 0.7;
            let mut sport = 32768 + (rng.next() % 28232) as u16;
            let mut dport = if tcp {
                TCP_PORTS[(rng.next() % 10) as usize]
            } else {
                UDP_PORTS[(rng.next() % 10) as usize]
            };
            if rng.next() & 1 == 1 {
                std::mem::swap(&mut src, &mut dst);
                std::mem::swap(&mut sport, &mut dport);
            }
            let mut h = vec![0x00, 0x00, 0x5e, 0x00, 0x01, 0x01];
            h.extend_from_slice(&[0x02, src[0], src[1], src[2], src[3], 0x01, 0x08, 0x00]);
            h.extend_from_slice(&[0x45, 0, 0, 0, (r >> 56) as u8, r as u8, 0x40, 0, 64]);
            h.extend_from_slice(&[if tcp { 6 } else { 17 }, 0, 0]);
            h.extend_from_slice(&src);
            h.extend_from_slice(&dst);
            h.extend_from_slice(&sport.to_be_bytes());
            h.extend_from_slice(&dport.to_be_bytes());
            if tcp {
                h.extend_from_slice(&rng.next().to_le_bytes());
                h.extend_from_slice(&[0x50, 0x18, 0x01, 0xf6, 0, 0, 0, 0]);
            } else {
                h.extend_from_slice(&[0, 0, 0, 0]);
            }
            PoolFlow { hdr: h, tcp }
        })
        .collect()
}

/// Wire length (no FCS) of one sampled frame, as `sflow_blast.c` draws it.
fn frame_len(rng: &mut Rng, tcp: bool) -> u32 {
    let u = rng.unif();
    if tcp {
        if u < 0.45 {
            return 1514;
        }
        if u < 0.85 {
            return 60 + (rng.unif() * 30.0) as u32;
        }
        return 100 + (rng.unif() * 900.0) as u32;
    }
    80 + (rng.unif() * 1320.0) as u32
}

/// The first `min(wire, 128)` bytes of a frame of `f`, lengths and checksum set.
fn header(f: &PoolFlow, wire: u32) -> Vec<u8> {
    let mut h = f.hdr.clone();
    h.resize(wire.min(128) as usize, 0);
    let total = (wire - 14) as u16;
    h[16..18].copy_from_slice(&total.to_be_bytes());
    let mut sum = 0u32;
    for w in h[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    h[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    if !f.tcp {
        h[38..40].copy_from_slice(&(total - 20).to_be_bytes());
    }
    h
}

/// Datagrams as `sflow_blast.c` sends them; returns them and their flow samples.
fn datagrams(n: usize) -> (Vec<Vec<u8>>, u64) {
    const PORTS: u32 = 48;
    const RATE: u32 = 1000;
    let mut rng = Rng(1);
    let pool = pool(&mut rng, 100_000);
    let mut flow_seq = [0u32; PORTS as usize + 1];
    let mut ctr_seq = [0u32; PORTS as usize + 1];
    let mut pool_ctr = [0u32; PORTS as usize + 1];
    let mut samples = 0;
    let mut out = Vec::with_capacity(n);
    for seq in 1..=n as u32 {
        let mut enc = DatagramEncoder::new([127, 0, 0, 1].into(), 0, seq, 3_600_000 + seq / 200);
        if seq % 50 == 0 {
            for s in 0..4 {
                let port = 1 + (seq + s) % PORTS;
                ctr_seq[port as usize] += 1;
                let info = CounterSampleInfo {
                    expanded: false,
                    sequence: ctr_seq[port as usize],
                    source: SourceId {
                        kind: 0,
                        index: port,
                    },
                };
                let c = GenericInterfaceCounters {
                    if_index: port,
                    if_type: 6,
                    if_speed: 10_000_000_000,
                    if_direction: 1,
                    if_status: 3,
                    ..Default::default()
                };
                enc.counter_sample(&info, &[CounterRecord::GenericInterface(c)]);
            }
        } else {
            for _ in 0..7 {
                let f = &pool[(rng.next() % pool.len() as u64) as usize];
                let wire = frame_len(&mut rng, f.tcp);
                let hdr = header(f, wire);
                let input = 1 + (rng.next() % u64::from(PORTS)) as u32;
                let output = 1 + (rng.next() % u64::from(PORTS)) as u32;
                flow_seq[input as usize] += 1;
                pool_ctr[input as usize] = pool_ctr[input as usize].wrapping_add(RATE);
                let info = FlowSampleInfo {
                    expanded: false,
                    sequence: flow_seq[input as usize],
                    source: SourceId {
                        kind: 0,
                        index: input,
                    },
                    sampling_rate: RATE,
                    sample_pool: pool_ctr[input as usize],
                    drops: 0,
                    input: Interface {
                        format: 0,
                        value: input,
                    },
                    output: Interface {
                        format: 0,
                        value: output,
                    },
                };
                let record = FlowRecord::RawHeader(RawPacketHeader {
                    protocol: 1,
                    frame_length: wire + 4,
                    stripped: 4,
                    header: &hdr,
                });
                enc.flow_sample(&info, &[record]);
                samples += 1;
            }
        }
        out.push(enc.finish());
    }
    (out, samples)
}

/// Datagrams per batch in the batched runs: the collector's `recvmmsg` size.
const BATCH: usize = 64;

/// One pass of all datagrams into a fresh table, `batch` datagrams at a time (1: one by
/// one with `SflowIngest::datagram`; more: `SflowIngest::datagrams`); flow samples per
/// CPU-second of this thread.
fn table_run(dgrams: &[Vec<u8>], samples: u64, batch: usize, run: usize) -> f64 {
    let mut table = FlowTable::new(TableConfig::default(), CaptureIds::default());
    let mut ingest = SflowIngest::new();
    let mut out: Vec<FlowUpdate> = Vec::new();
    let mut counters = 0u64;
    // The datagrams arrive over 10 s of synthetic time: updates run as they would.
    let step = 10_000_000_000 / dgrams.len().max(1) as i64;
    let t0 = Timestamp::now().as_nanos();
    let cpu = thread_cpu_ns();
    for (c, chunk) in dgrams.chunks(batch).enumerate() {
        let now = Timestamp::from_nanos(t0 + (c * batch) as i64 * step);
        if batch == 1 {
            let _ = ingest.datagram(&mut table, &chunk[0], now, |_, _, _| counters += 1);
        } else {
            let slices: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            ingest.datagrams(&mut table, &slices, now, |_, _, _| counters += 1);
        }
        if (c * batch).is_multiple_of(64) && table.pending() > 0 {
            table.drain_emitted(&mut out);
            out.clear();
        }
    }
    let cpu = (thread_cpu_ns() - cpu) as f64 / 1e9;
    let s = ingest.stats();
    assert_eq!(s.flow_samples, samples, "every flow sample decoded");
    assert_eq!(s.error_total(), 0);
    let rate = s.flow_samples as f64 / cpu;
    println!(
        "run {run}, batch {batch}: {} flow samples in {:.1} ms CPU: {:.2} M samples/CPU-s ({} flows, {} counter records, {} decode errors)",
        s.flow_samples,
        cpu * 1e3,
        rate / 1e6,
        table.len(),
        counters,
        table.stats().decode_errors.total()
    );
    rate
}

fn bench(n: usize, runs: usize) {
    let t = Instant::now();
    let (dgrams, samples) = datagrams(n);
    let bytes: usize = dgrams.iter().map(Vec::len).sum();
    println!(
        "{} datagrams, {samples} flow samples, {} bytes/datagram on average, built in {:.0} ms",
        dgrams.len(),
        bytes / dgrams.len().max(1),
        t.elapsed().as_secs_f64() * 1e3
    );

    let mut rates = Vec::new();
    let mut batched = Vec::new();
    for run in 0..runs {
        for batch in [1, BATCH] {
            let rate = table_run(&dgrams, samples, batch, run);
            if batch == 1 {
                rates.push(rate);
            } else {
                batched.push(rate);
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    batched.sort_by(f64::total_cmp);
    if rates.is_empty() {
        return;
    }

    // Decode only: walk every sample and record, no table.
    let cpu = thread_cpu_ns();
    let mut walked = 0u64;
    for d in &dgrams {
        let Ok(dg) = Datagram::parse(d) else { continue };
        for sample in dg.samples().flatten() {
            if let Sample::Flow(fs) = sample {
                walked += fs.records().flatten().count() as u64;
            }
        }
    }
    let decode_rate = walked as f64 / ((thread_cpu_ns() - cpu) as f64 / 1e9);
    println!(
        "decode + table: median {:.2} M flow samples/CPU-s (min {:.2}, max {:.2}; {runs} runs, one thread, datagram by datagram)",
        rates[rates.len() / 2] / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6
    );
    println!(
        "decode + table: median {:.2} M flow samples/CPU-s (min {:.2}, max {:.2}; {runs} runs, one thread, batches of {BATCH} as the collector's recvmmsg)",
        batched[batched.len() / 2] / 1e6,
        batched[0] / 1e6,
        batched[batched.len() - 1] / 1e6
    );
    println!(
        "decode only:    {:.2} M flow samples/CPU-s",
        decode_rate / 1e6
    );
}

/// The UDP collector: an `sflow` capture of `skydive-probes` (the agent's code: collector
/// thread with `recvmmsg`, flow table, flow batches to a channel, a node's `Captures` entry)
/// on a throw-away graph, until SIGTERM/SIGINT. The socket keeps the kernel's default buffer
/// (`rcvbuf_bytes: 0`), as the peers do, unless `--rcvbuf` asks for more. The flow batches
/// are drained and counted here.
fn collect(port: u16, out: &str, rcvbuf: usize) {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).expect("signal handler");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let stats = rt.block_on(async {
        let graph = SharedGraph::new(GraphOptions::new("bench", "agent.bench"));
        let node = graph
            .write()
            .create_node(
                gen_id(&["sflow-bench"]),
                Metadata::from_pairs([
                    ("Name", json!("bench0")),
                    ("Type", json!("device")),
                    ("TID", json!("sflow-bench-tid")),
                ]),
            )
            .expect("a node");
        let mut cfg = CapturesConfig::default();
        cfg.sflow.rcvbuf_bytes = rcvbuf;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<FlowBatch>(1024);
        let consumer = tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(batch) = rx.recv().await {
                n += batch.len() as u64;
            }
            n
        });
        let ctx = CaptureContext::new(graph, "bench", cfg, tx);
        let spec = CaptureSpec {
            id: "sflow-bench".into(),
            capture_type: "sflow".into(),
            port: u32::from(port),
            ..CaptureSpec::default()
        };
        let target = CaptureTarget::from_node(&node, "bench-host").expect("a target");
        let cap = match capture::start(spec, target, &ctx).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("127.0.0.1:{port}: {e}");
                std::process::exit(1)
            }
        };
        drop(ctx);
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stats = cap.stop().await.expect("the capture stops");
        let records = consumer.await.unwrap_or(0);
        (stats, records)
    });
    let (s, records) = stats;
    if let Err(e) = std::fs::write(out, format!("{}\n", s.samples_decoded)) {
        eprintln!("{out}: {e}");
        std::process::exit(1);
    }
    println!(
        "datagrams={} flow_samples={} counter_samples={} raw_headers={} errors={} socket_drops={} flows={} records={} records_dropped={} decode_errors={}",
        s.packets_received,
        s.samples_decoded,
        s.counter_samples,
        s.headers_accounted,
        s.datagram_errors,
        s.packets_dropped,
        s.flows_created,
        records,
        s.flow_records_dropped,
        s.headers_undecodable
    );
}
