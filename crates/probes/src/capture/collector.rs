//! [`SflowCollector`]: a UDP socket receiving sFlow datagrams, decoded into a flow table on a
//! dedicated thread, with the table's records handed to async code as batches of [`Flow`].
//!
//! ```text
//!  UDP socket ─recvmmsg ×64─▶ [sflow-rx]  SflowIngest::datagrams(batch) → FlowTable
//!  (SO_RCVBUF:                  walk every datagram, warm the table for all samples, account;
//!   rcvbuf_bytes)               counter records → SflowCounters (one lock per batch)
//!                                  │ Vec<FlowUpdate> per table scan, try_send
//!                                  ▼ std sync_channel(agent.capture.queue_size)
//!                             [sflow-flows]  FlowUpdate → Flow, batches of ≤ 1024
//!                                  │ try_send
//!                                  ▼ tokio mpsc<FlowBatch> (the agent's)
//! ```
//!
//! Threads (STYLE §6): `sflow-rx` owns the socket's receive loop, the [`SflowIngest`] and the
//! [`FlowTable`]; nothing on it allocates per datagram or per sample (64 receive slots of
//! 64 KiB are allocated once; a flow allocates only on a table miss, inside the table). When
//! a collector must live in another network namespace (an OVS switch in a namespace can only
//! reach collectors there), `sflow-rx` enters it with `setns` before it binds: the thread is
//! the collector's own, so no tokio worker ever changes namespace. `sflow-flows` turns the
//! table's plain-data records into the API's owned [`Flow`]s (the strings are made there,
//! off the packet path) and `try_send`s them: the packet thread never waits for the agent.
//!
//! Drops (STYLE §7), none intended: datagrams the kernel dropped because the socket buffer
//! was full (`SO_MEMINFO` drops, `PacketsDropped`), datagrams longer than a slot
//! (`DatagramsTruncated`, decoded up to the cut), new flows refused by a full table
//! (`FlowsDropped`), records lost because the queue to `sflow-flows` or the agent's channel
//! was full (`FlowRecordsDropped`).
//!
//! Time: samples are stamped with the wall clock when their batch is received; when no
//! datagram arrives for 100 ms the table's clock still advances ([`FlowTable::tick`]), so
//! flows are updated every `flow.update` and expire on time. Stopping flushes the table: every
//! flow leaves with a last record.

use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, mpsc as std_mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{getsockopt, setsockopt, sockopt};
use parking_lot::Mutex;
use serde::Serialize;
use skydive_flow::sflow::SflowIngest;
use skydive_flow::{CaptureIds, Flow, FlowTable, FlowUpdate, TableConfig, Timestamp};
use tokio::sync::mpsc;

use super::counters::{CounterUpdate, SflowCounters};

/// What a capture hands to the agent: flows of one capture, at most [`MAX_BATCH_FLOWS`].
pub type FlowBatch = Vec<Flow>;

/// Largest [`FlowBatch`].
pub const MAX_BATCH_FLOWS: usize = 1024;

/// Datagrams received per `recvmmsg`.
const VLEN: usize = 64;
/// Bytes of one receive slot: the largest UDP payload.
const SLOT: usize = 65536;
/// How long a receive waits before the table's clock is advanced without a datagram (and the
/// stop flag checked).
const RECV_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a stopping collector tries to hand its last records to a full agent channel.
const FINAL_SEND_GRACE: Duration = Duration::from_secs(1);
/// Counter records buffered on the packet thread before they are folded in.
const COUNTER_BATCH: usize = 1024;

/// Why a collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    #[error("cannot enter network namespace `{path}`: {source}")]
    Namespace { path: PathBuf, source: io::Error },
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: io::Error,
    },
    #[error(
        "no free UDP port in {first}–{last} on {address} (agent.flow.sflow.port_min/port_max): \
         every one is taken, by other captures or other programs"
    )]
    NoFreePort {
        address: IpAddr,
        first: u16,
        last: u16,
    },
    #[error("cannot start the collector thread: {0}")]
    Thread(io::Error),
}

/// Where and how a collector listens, and the table it fills.
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Address to bind.
    pub bind: IpAddr,
    /// Ports to try, in order; the first free one is taken.
    pub ports: RangeInclusive<u16>,
    /// Receive buffer wanted (0: the kernel's default); never set below the default.
    pub rcvbuf_bytes: usize,
    /// Namespace to open the socket in (a `/var/run/netns` path); `None`: the agent's.
    pub netns: Option<PathBuf>,
    pub table: TableConfig,
    /// `NodeTID` and `CaptureID` of every flow.
    pub ids: CaptureIds,
    /// Table scans queued between the two threads.
    pub queue_size: usize,
}

/// A capture's counters (cumulative since it started), as `/api/status` and the node's
/// `Captures` entry show them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CaptureStats {
    /// sFlow datagrams received.
    #[serde(rename = "PacketsReceived")]
    pub packets_received: u64,
    /// Datagrams the kernel dropped because the socket buffer was full.
    #[serde(rename = "PacketsDropped")]
    pub packets_dropped: u64,
    /// Always 0 for sFlow captures (Skydive's key, for interface drops of packet captures).
    #[serde(rename = "PacketsIfDropped")]
    pub packets_if_dropped: u64,
    /// Datagrams longer than 64 KiB, decoded up to the cut.
    #[serde(rename = "DatagramsTruncated")]
    pub datagrams_truncated: u64,
    /// Datagrams that could not be (fully) decoded.
    #[serde(rename = "DatagramErrors")]
    pub datagram_errors: u64,
    /// Flow samples decoded.
    #[serde(rename = "SamplesDecoded")]
    pub samples_decoded: u64,
    /// Counter samples decoded.
    #[serde(rename = "CounterSamples")]
    pub counter_samples: u64,
    /// Sampled packet headers given to the flow table.
    #[serde(rename = "HeadersAccounted")]
    pub headers_accounted: u64,
    /// Sampled headers that could not be decoded (or of an unsupported protocol).
    #[serde(rename = "HeadersUndecodable")]
    pub headers_undecodable: u64,
    /// Flows in the table now.
    #[serde(rename = "FlowCount")]
    pub flow_count: u64,
    #[serde(rename = "FlowsCreated")]
    pub flows_created: u64,
    /// New flows refused because the table was full (`flow.max_entries`).
    #[serde(rename = "FlowsDropped")]
    pub flows_dropped: u64,
    /// Flow records handed to the agent.
    #[serde(rename = "FlowRecordsSent")]
    pub flow_records_sent: u64,
    /// Flow records lost: a queue on the way to the agent was full.
    #[serde(rename = "FlowRecordsDropped")]
    pub flow_records_dropped: u64,
}

/// Counters written by the two threads.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    datagrams: AtomicU64,
    truncated: AtomicU64,
    errors: AtomicU64,
    flow_samples: AtomicU64,
    counter_samples: AtomicU64,
    headers: AtomicU64,
    undecodable: AtomicU64,
    flow_count: AtomicU64,
    flows_created: AtomicU64,
    flows_dropped: AtomicU64,
    records_sent: AtomicU64,
    records_dropped: AtomicU64,
    /// Why the receive loop ended, if it ended by itself.
    failure: Mutex<Option<String>>,
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

fn set(c: &AtomicU64, n: u64) {
    c.store(n, Ordering::Relaxed);
}

/// What both the collector and its monitors read.
struct Inner {
    local: SocketAddr,
    rcvbuf: usize,
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    counters: Arc<Mutex<SflowCounters>>,
}

/// A running sFlow collector (see the module docs). Dropping it stops its threads (they
/// flush the table first); [`SflowCollector::stop`] also waits for them.
pub struct SflowCollector {
    inner: Arc<Inner>,
    threads: Vec<JoinHandle<()>>,
}

/// A read-only view of a collector, for status tasks (clones share it).
#[derive(Clone)]
pub struct CollectorMonitor(Arc<Inner>);

impl std::fmt::Debug for SflowCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SflowCollector")
            .field("local", &self.inner.local)
            .field("rcvbuf", &self.inner.rcvbuf)
            .finish()
    }
}

impl SflowCollector {
    /// Binds the socket (on the `sflow-rx` thread, inside `opts.netns` if given) and starts
    /// both threads. Blocks only until the socket is bound.
    pub fn start(
        opts: CollectorOptions,
        flows: mpsc::Sender<FlowBatch>,
    ) -> Result<SflowCollector, CollectorError> {
        let shared = Arc::new(Shared::default());
        let counters = Arc::new(Mutex::new(SflowCounters::default()));
        let (scan_tx, scan_rx) = std_mpsc::sync_channel(opts.queue_size.max(1));
        // One emptied record buffer goes back for the next scan: its pages stay mapped, so
        // a scan of 100 000 flows does not fault in 32 MB afresh on the packet thread.
        let (spare_tx, spare_rx) = std_mpsc::sync_channel(1);
        let flows_thread = {
            let shared = shared.clone();
            let ids = opts.ids.clone();
            std::thread::Builder::new()
                .name("sflow-flows".into())
                .spawn(move || convert(scan_rx, &spare_tx, &ids, &flows, &shared))
                .map_err(CollectorError::Thread)?
        };
        let (ready_tx, ready_rx) = std_mpsc::sync_channel(1);
        let rx_thread = {
            let shared = shared.clone();
            let counters = counters.clone();
            std::thread::Builder::new()
                .name("sflow-rx".into())
                .spawn(move || {
                    let socket = match open_socket(&opts) {
                        Ok((s, rcvbuf)) => {
                            let s = Arc::new(s);
                            let _ = ready_tx.send(Ok((s.clone(), rcvbuf)));
                            s
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let table = FlowTable::new(opts.table.clone(), opts.ids.clone());
                    let scans = Handover {
                        scans: scan_tx,
                        spares: spare_rx,
                    };
                    receive(&socket, table, &shared, &counters, &scans);
                })
                .map_err(CollectorError::Thread)?
        };
        let ready = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(CollectorError::Thread(io::Error::other("thread died"))));
        let started = ready.and_then(|(socket, rcvbuf)| {
            let local = socket.local_addr().map_err(CollectorError::Thread)?;
            Ok((socket, rcvbuf, local))
        });
        match started {
            Ok((socket, rcvbuf, local)) => Ok(SflowCollector {
                inner: Arc::new(Inner {
                    local,
                    rcvbuf,
                    socket,
                    shared,
                    counters,
                }),
                threads: vec![rx_thread, flows_thread],
            }),
            Err(e) => {
                shared.stop.store(true, Ordering::Relaxed);
                let _ = rx_thread.join();
                let _ = flows_thread.join();
                Err(e)
            }
        }
    }

    /// A view for status tasks.
    pub fn monitor(&self) -> CollectorMonitor {
        CollectorMonitor(self.inner.clone())
    }

    /// The address the collector listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The socket's receive buffer, as the kernel accounts it (`ss` `rb`).
    pub fn rcvbuf_bytes(&self) -> usize {
        self.inner.rcvbuf
    }

    /// The counters so far.
    pub fn stats(&self) -> CaptureStats {
        self.inner.stats()
    }

    /// Stops both threads and waits for them: the table is flushed, its last records are
    /// handed over (waiting up to 1 s for room in the agent's channel). Blocking.
    pub fn stop(mut self) -> CaptureStats {
        self.inner.shared.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.inner.stats()
    }
}

impl Drop for SflowCollector {
    fn drop(&mut self) {
        self.inner.shared.stop.store(true, Ordering::Relaxed);
    }
}

impl CollectorMonitor {
    pub fn local_addr(&self) -> SocketAddr {
        self.0.local
    }

    pub fn stats(&self) -> CaptureStats {
        self.0.stats()
    }

    /// Why the receive loop stopped by itself (a socket error), if it did.
    pub fn failure(&self) -> Option<String> {
        self.0.shared.failure.lock().clone()
    }

    /// The node's sFlow counters (counter samples).
    pub fn counters(&self) -> &Mutex<SflowCounters> {
        &self.0.counters
    }
}

impl Inner {
    fn stats(&self) -> CaptureStats {
        let s = &self.shared;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CaptureStats {
            packets_received: load(&s.datagrams),
            packets_dropped: socket_drops(self.socket.as_raw_fd()).unwrap_or(0),
            packets_if_dropped: 0,
            datagrams_truncated: load(&s.truncated),
            datagram_errors: load(&s.errors),
            samples_decoded: load(&s.flow_samples),
            counter_samples: load(&s.counter_samples),
            headers_accounted: load(&s.headers),
            headers_undecodable: load(&s.undecodable),
            flow_count: load(&s.flow_count),
            flows_created: load(&s.flows_created),
            flows_dropped: load(&s.flows_dropped),
            flow_records_sent: load(&s.records_sent),
            flow_records_dropped: load(&s.records_dropped),
        }
    }
}

/// Opens the socket: namespace, first free port, buffer, read timeout.
fn open_socket(opts: &CollectorOptions) -> Result<(UdpSocket, usize), CollectorError> {
    if let Some(path) = &opts.netns {
        let ns_err = |source| CollectorError::Namespace {
            path: path.clone(),
            source,
        };
        let file = File::open(path).map_err(ns_err)?;
        setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| ns_err(e.into()))?;
    }
    let (first, last) = (*opts.ports.start(), *opts.ports.end());
    let mut socket = None;
    for port in opts.ports.clone() {
        let address = SocketAddr::new(opts.bind, port);
        match UdpSocket::bind(address) {
            Ok(s) => {
                socket = Some(s);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && first != last => continue,
            Err(source) => return Err(CollectorError::Bind { address, source }),
        }
    }
    let Some(socket) = socket else {
        return Err(CollectorError::NoFreePort {
            address: opts.bind,
            first,
            last,
        });
    };
    let address = socket
        .local_addr()
        .unwrap_or(SocketAddr::new(opts.bind, first));
    let bind_err = |source| CollectorError::Bind { address, source };
    let current = getsockopt(&socket, sockopt::RcvBuf).unwrap_or(0);
    // The kernel reports twice what was asked (its bookkeeping overhead): compare halves.
    if opts.rcvbuf_bytes > current / 2 {
        let want = opts.rcvbuf_bytes;
        if setsockopt(&socket, sockopt::RcvBufForce, &want).is_err() {
            let _ = setsockopt(&socket, sockopt::RcvBuf, &want);
        }
    }
    let rcvbuf = getsockopt(&socket, sockopt::RcvBuf).unwrap_or(current);
    socket
        .set_read_timeout(Some(RECV_TIMEOUT))
        .map_err(bind_err)?;
    Ok((socket, rcvbuf))
}

/// Datagrams the kernel dropped on this socket (`SK_MEMINFO_DROPS` of `SO_MEMINFO`).
fn socket_drops(fd: RawFd) -> Option<u64> {
    const WORDS: usize = libc::SK_MEMINFO_DROPS as usize + 1;
    let mut info = [0u32; WORDS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is a writable buffer of `len` bytes that outlives the call, and `len`
    // points at its size; the kernel writes at most `len` bytes and updates `len`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    (r == 0 && len as usize >= std::mem::size_of_val(&info))
        .then(|| u64::from(info[libc::SK_MEMINFO_DROPS as usize]))
}

/// `recvmmsg` slots: [`VLEN`] buffers of [`SLOT`] bytes, allocated once.
struct RecvRing {
    bufs: Vec<u8>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

impl RecvRing {
    fn new() -> Self {
        let bufs = vec![0u8; VLEN * SLOT];
        let iovs = (0..VLEN)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: SLOT,
            })
            .collect();
        // SAFETY: `mmsghdr` is a plain C struct (pointers and integers) for which all-zero
        // bytes are a valid value: no name, no iovec, no control data.
        let hdrs = (0..VLEN)
            .map(|_| unsafe { std::mem::zeroed::<libc::mmsghdr>() })
            .collect();
        RecvRing { bufs, iovs, hdrs }
    }

    /// Receives up to [`VLEN`] datagrams: waits (up to the socket's read timeout) for the
    /// first one, then takes what is already queued.
    fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let base = self.bufs.as_mut_ptr();
        for (i, (iov, hdr)) in self.iovs.iter_mut().zip(self.hdrs.iter_mut()).enumerate() {
            // SAFETY: `i * SLOT + SLOT <= bufs.len()`, so the slot is inside the allocation.
            iov.iov_base = unsafe { base.add(i * SLOT) }.cast();
            iov.iov_len = SLOT;
            hdr.msg_hdr.msg_iov = iov;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_len = 0;
        }
        // SAFETY: `hdrs` holds VLEN headers, each pointing at one iovec of `iovs` that points
        // at a distinct SLOT-byte slot of `bufs`; all three live in `self`, borrowed mutably
        // for the call, so the kernel's writes alias nothing Rust reads meanwhile. No name,
        // no control buffer; a null timeout (the socket's SO_RCVTIMEO applies).
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                VLEN as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Datagram `i` of the last receive, and whether it was cut to fit its slot.
    fn datagram(&self, i: usize) -> (&[u8], bool) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(SLOT);
        let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        (&self.bufs[i * SLOT..i * SLOT + len], truncated)
    }
}

/// The `sflow-rx` loop: receive, decode into the table, hand the table's records over.
fn receive(
    socket: &UdpSocket,
    mut table: FlowTable,
    shared: &Shared,
    counters: &Mutex<SflowCounters>,
    scans: &Handover,
) {
    let fd = socket.as_raw_fd();
    let mut ring = RecvRing::new();
    let mut ingest = SflowIngest::new();
    let mut pending: Vec<CounterUpdate> = Vec::with_capacity(COUNTER_BATCH);
    let mut truncated = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        match ring.recv(fd) {
            Ok(n) => {
                let now = Timestamp::now();
                let mut batch: [&[u8]; VLEN] = [&[]; VLEN];
                for (i, slot) in batch.iter_mut().enumerate().take(n) {
                    let (bytes, cut) = ring.datagram(i);
                    truncated += u64::from(cut);
                    *slot = bytes;
                }
                // The whole batch at once: the table's memory for all its samples is fetched
                // together. Errors are counted by the ingest, by reason.
                ingest.datagrams(&mut table, &batch[..n], now, |_, info, record| {
                    if let Some(u) = CounterUpdate::from_record(info.source.index, record) {
                        pending.push(u);
                        if pending.len() >= COUNTER_BATCH {
                            counters.lock().apply(&pending, now.as_millis());
                            pending.clear();
                        }
                    }
                });
                if !pending.is_empty() {
                    counters.lock().apply(&pending, now.as_millis());
                    pending.clear();
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                table.tick(Timestamp::now());
            }
            Err(e) => {
                tracing::warn!(error = %e, "sFlow collector: receive failed, capture stopped");
                *shared.failure.lock() = Some(format!("receive failed: {e}"));
                break;
            }
        }
        if table.pending() > 0 {
            hand_over(&mut table, scans, shared, false);
        }
        publish(&ingest, &table, truncated, shared);
    }
    table.flush(Timestamp::now());
    hand_over(&mut table, scans, shared, true);
    publish(&ingest, &table, truncated, shared);
}

/// The packet thread's end of the queue to `sflow-flows`, and of the buffers coming back.
struct Handover {
    scans: SyncSender<Vec<FlowUpdate>>,
    spares: Receiver<Vec<FlowUpdate>>,
}

/// Moves the table's records to the `sflow-flows` thread; `last`: waits for room.
fn hand_over(table: &mut FlowTable, h: &Handover, shared: &Shared, last: bool) {
    // An empty buffer is traded for the table's outbox: the table keeps the spare's pages.
    let mut records = h.spares.try_recv().unwrap_or_default();
    records.clear();
    table.drain_emitted(&mut records);
    if records.is_empty() {
        return;
    }
    let n = records.len() as u64;
    let sent = if last {
        h.scans.send(records).is_ok()
    } else {
        match h.scans.try_send(records) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    };
    if !sent {
        add(&shared.records_dropped, n);
    }
}

/// Publishes the packet thread's counters (a few relaxed stores per batch).
fn publish(ingest: &SflowIngest, table: &FlowTable, truncated: u64, shared: &Shared) {
    let s = ingest.stats();
    let t = table.stats();
    set(&shared.datagrams, s.datagrams);
    set(&shared.truncated, truncated);
    set(&shared.errors, s.error_total());
    set(&shared.flow_samples, s.flow_samples);
    set(&shared.counter_samples, s.counter_samples);
    set(&shared.headers, s.raw_headers);
    set(
        &shared.undecodable,
        s.unsupported_headers + t.decode_errors.total(),
    );
    set(&shared.flow_count, table.len() as u64);
    set(&shared.flows_created, t.flows_created);
    set(&shared.flows_dropped, t.flows_dropped);
}

/// The `sflow-flows` loop: records → owned flows, in batches, to the agent's channel.
fn convert(
    scans: Receiver<Vec<FlowUpdate>>,
    spares: &SyncSender<Vec<FlowUpdate>>,
    ids: &CaptureIds,
    flows: &mpsc::Sender<FlowBatch>,
    shared: &Shared,
) {
    while let Ok(mut records) = scans.recv() {
        for chunk in records.chunks(MAX_BATCH_FLOWS) {
            let n = chunk.len() as u64;
            let stopping = shared.stop.load(Ordering::Relaxed);
            if flows.is_closed() || (flows.capacity() == 0 && !stopping) {
                // No room: do not make strings that would be dropped.
                add(&shared.records_dropped, n);
                continue;
            }
            let batch: FlowBatch = chunk.iter().map(|u| sflow_flow(u, ids)).collect();
            if send(flows, batch, stopping) {
                add(&shared.records_sent, n);
            } else {
                add(&shared.records_dropped, n);
            }
        }
        records.clear();
        let _ = spares.try_send(records);
    }
}

/// The API's flow of a record, without RTT: sFlow samples carry no time of their own (they
/// are stamped when their datagram arrives, and an exporter sends a request and its reply in
/// one datagram, or in two a second apart), so a request→reply gap measures the exporter's
/// batching, not the network.
fn sflow_flow(u: &FlowUpdate, ids: &CaptureIds) -> Flow {
    let mut f = u.to_flow(ids);
    f.metric.rtt = 0;
    if let Some(m) = &mut f.last_update_metric {
        m.rtt = 0;
    }
    f
}

/// `try_send`; when the capture is stopping, retries for up to [`FINAL_SEND_GRACE`].
fn send(flows: &mpsc::Sender<FlowBatch>, mut batch: FlowBatch, stopping: bool) -> bool {
    let deadline = Instant::now() + FINAL_SEND_GRACE;
    loop {
        match flows.try_send(batch) {
            Ok(()) => return true,
            Err(mpsc::error::TrySendError::Closed(_)) => return false,
            Err(mpsc::error::TrySendError::Full(b)) => {
                if !stopping || Instant::now() >= deadline {
                    return false;
                }
                batch = b;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skydive_flow::FrameBuilder;
    use skydive_flow::sflow::{
        DatagramEncoder, FlowRecord, FlowSampleInfo, Interface, RawPacketHeader, SourceId,
    };

    fn options(port: u16) -> CollectorOptions {
        CollectorOptions {
            bind: IpAddr::from([127, 0, 0, 1]),
            ports: port..=port,
            rcvbuf_bytes: 1 << 20,
            netns: None,
            table: TableConfig {
                update: Duration::from_secs(1),
                ..TableConfig::default()
            },
            ids: CaptureIds {
                node_tid: "tid-1".into(),
                capture_id: "cap-1".into(),
            },
            queue_size: 4,
        }
    }

    fn datagram(seq: u32, frames: &[Vec<u8>]) -> Vec<u8> {
        let mut enc = DatagramEncoder::new([127, 0, 0, 1].into(), 0, seq, 1000);
        for (i, f) in frames.iter().enumerate() {
            let info = FlowSampleInfo {
                sequence: seq * 10 + i as u32,
                source: SourceId { kind: 0, index: 1 },
                sampling_rate: 1,
                sample_pool: 1,
                input: Interface {
                    format: 0,
                    value: 1,
                },
                output: Interface {
                    format: 0,
                    value: 2,
                },
                ..FlowSampleInfo::default()
            };
            let rec = FlowRecord::RawHeader(RawPacketHeader {
                protocol: 1,
                frame_length: f.len() as u32 + 4,
                stripped: 4,
                header: f,
            });
            enc.flow_sample(&info, &[rec]);
        }
        enc.finish()
    }

    #[test]
    fn datagrams_become_flow_batches_and_stop_flushes() {
        let (tx, mut rx) = mpsc::channel(16);
        let c = SflowCollector::start(options(0), tx).expect("collector starts on port 0");
        let port = c.local_addr().port();
        assert_ne!(port, 0);
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ping = FrameBuilder::new()
            .ethernet(a, b)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
            .icmpv4_echo_request(7, 1)
            .build();
        let pong = FrameBuilder::new()
            .ethernet(b, a)
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1])
            .icmpv4_echo_reply(7, 1)
            .build();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for seq in 0..3 {
            let d = datagram(seq, &[ping.clone(), pong.clone()]);
            sender.send_to(&d, ("127.0.0.1", port)).unwrap();
        }
        sender
            .send_to(b"not sflow at all", ("127.0.0.1", port))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.stats().packets_received < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let stats = c.stop();
        assert_eq!(stats.packets_received, 4);
        assert_eq!(stats.samples_decoded, 6);
        assert_eq!(stats.datagram_errors, 1);
        assert_eq!(stats.flows_created, 1);
        let mut flows = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            flows.extend(batch);
        }
        let last = flows.last().expect("the final record");
        assert_eq!(last.node_tid, "tid-1");
        assert_eq!(last.capture_id, "cap-1");
        assert_eq!((last.metric.ab_packets, last.metric.ba_packets), (3, 3));
        assert_eq!(last.network.as_ref().unwrap().a, "10.0.0.1");
        assert_eq!(stats.flow_records_sent, flows.len() as u64);
        assert_eq!(stats.flow_records_dropped, 0);
    }

    #[test]
    fn a_taken_port_is_an_error_and_ranges_skip_it() {
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let (tx, _rx) = mpsc::channel(1);
        let err = SflowCollector::start(options(port), tx.clone()).unwrap_err();
        assert!(matches!(err, CollectorError::Bind { .. }), "{err}");
        assert!(err.to_string().contains(&port.to_string()), "{err}");
        let mut o = options(port);
        o.ports = port..=port.saturating_add(20);
        match SflowCollector::start(o, tx) {
            Ok(c) => assert_ne!(c.local_addr().port(), port),
            Err(e) => assert!(matches!(e, CollectorError::NoFreePort { .. }), "{e}"),
        }
    }

    #[test]
    fn full_agent_channel_counts_dropped_records() {
        let (tx, _rx) = mpsc::channel(1);
        let mut o = options(0);
        o.table.update = Duration::from_secs(1);
        let c = SflowCollector::start(o, tx.clone()).unwrap();
        // Fill the agent's channel so that nothing more fits.
        tx.try_send(Vec::new()).unwrap();
        let port = c.local_addr().port();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let frame = FrameBuilder::new()
            .ethernet([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
            .udp(1000, 2000)
            .payload(b"x")
            .build();
        sender
            .send_to(&datagram(1, &[frame]), ("127.0.0.1", port))
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.stats().flow_records_dropped == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let s = c.stop();
        assert!(s.flow_records_dropped >= 1, "{s:?}");
        assert_eq!(s.flow_records_sent, 0);
    }
}
