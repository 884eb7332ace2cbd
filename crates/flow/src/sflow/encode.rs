//! [`DatagramEncoder`]: writes sFlow v5 datagrams, for tests, fuzz round trips, seed corpora
//! and benchmark load. Compact sample forms keep only 24 bits of a source index and 30 bits
//! of an interface value, as the format does; use the expanded forms for larger values.

use std::net::IpAddr;

use super::{CounterRecord, CounterSampleInfo, FlowRecord, FlowSampleInfo};

/// Builds one datagram: header first, then samples one by one, then [`finish`].
///
/// [`finish`]: DatagramEncoder::finish
#[derive(Debug, Clone)]
pub struct DatagramEncoder {
    buf: Vec<u8>,
    count_at: usize,
    count: u32,
}

impl DatagramEncoder {
    pub fn new(agent: IpAddr, sub_agent_id: u32, sequence: u32, uptime_ms: u32) -> Self {
        let mut buf = Vec::with_capacity(1500);
        put(&mut buf, 5);
        match agent {
            IpAddr::V4(a) => {
                put(&mut buf, 1);
                buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                put(&mut buf, 2);
                buf.extend_from_slice(&a.octets());
            }
        }
        put(&mut buf, sub_agent_id);
        put(&mut buf, sequence);
        put(&mut buf, uptime_ms);
        let count_at = buf.len();
        put(&mut buf, 0);
        DatagramEncoder {
            buf,
            count_at,
            count: 0,
        }
    }

    /// Appends a flow sample (format 1, or 3 when `info.expanded`).
    pub fn flow_sample(&mut self, info: &FlowSampleInfo, records: &[FlowRecord<'_>]) -> &mut Self {
        let format = if info.expanded { 3 } else { 1 };
        let at = self.begin(0, format);
        let b = &mut self.buf;
        put(b, info.sequence);
        if info.expanded {
            put(b, info.source.kind);
            put(b, info.source.index);
        } else {
            put(
                b,
                info.source.kind << 24 | (info.source.index & 0x00ff_ffff),
            );
        }
        put(b, info.sampling_rate);
        put(b, info.sample_pool);
        put(b, info.drops);
        for itf in [info.input, info.output] {
            if info.expanded {
                put(b, itf.format);
                put(b, itf.value);
            } else {
                put(b, itf.format << 30 | (itf.value & 0x3fff_ffff));
            }
        }
        put(b, records.len() as u32);
        for r in records {
            match *r {
                FlowRecord::RawHeader(h) => {
                    let at = begin_item(b, 0, 1);
                    put(b, h.protocol);
                    put(b, h.frame_length);
                    put(b, h.stripped);
                    put_opaque(b, h.header);
                    end_item(b, at);
                }
                FlowRecord::Other {
                    enterprise,
                    format,
                    data,
                } => raw_item(b, enterprise, format, data),
            }
        }
        self.end(at)
    }

    /// Appends a counter sample (format 2, or 4 when `info.expanded`).
    pub fn counter_sample(
        &mut self,
        info: &CounterSampleInfo,
        records: &[CounterRecord<'_>],
    ) -> &mut Self {
        let format = if info.expanded { 4 } else { 2 };
        let at = self.begin(0, format);
        let b = &mut self.buf;
        put(b, info.sequence);
        if info.expanded {
            put(b, info.source.kind);
            put(b, info.source.index);
        } else {
            put(
                b,
                info.source.kind << 24 | (info.source.index & 0x00ff_ffff),
            );
        }
        put(b, records.len() as u32);
        for r in records {
            match *r {
                CounterRecord::GenericInterface(c) => {
                    let at = begin_item(b, 0, 1);
                    c.encode(b);
                    end_item(b, at);
                }
                CounterRecord::Ethernet(c) => {
                    let at = begin_item(b, 0, 2);
                    c.encode(b);
                    end_item(b, at);
                }
                CounterRecord::Other {
                    enterprise,
                    format,
                    data,
                } => raw_item(b, enterprise, format, data),
            }
        }
        self.end(at)
    }

    /// Appends a sample of any other kind, as given.
    pub fn other_sample(&mut self, enterprise: u32, format: u32, data: &[u8]) -> &mut Self {
        raw_item(&mut self.buf, enterprise, format, data);
        self.count += 1;
        self
    }

    fn begin(&mut self, enterprise: u32, format: u32) -> usize {
        begin_item(&mut self.buf, enterprise, format)
    }

    fn end(&mut self, at: usize) -> &mut Self {
        end_item(&mut self.buf, at);
        self.count += 1;
        self
    }

    /// The datagram's bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let count = self.count.to_be_bytes();
        self.buf[self.count_at..self.count_at + 4].copy_from_slice(&count);
        self.buf
    }
}

fn put(b: &mut Vec<u8>, word: u32) {
    b.extend_from_slice(&word.to_be_bytes());
}

/// XDR variable-length opaque: length, bytes, zero padding to 4.
fn put_opaque(b: &mut Vec<u8>, data: &[u8]) {
    put(b, data.len() as u32);
    b.extend_from_slice(data);
    b.resize(b.len() + (4 - data.len() % 4) % 4, 0);
}

/// Writes a data format word and a length placeholder; returns where the length goes.
fn begin_item(b: &mut Vec<u8>, enterprise: u32, format: u32) -> usize {
    put(b, enterprise << 12 | (format & 0x0fff));
    let at = b.len();
    put(b, 0);
    at
}

fn end_item(b: &mut [u8], at: usize) {
    let len = (b.len() - at - 4) as u32;
    b[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn raw_item(b: &mut Vec<u8>, enterprise: u32, format: u32, data: &[u8]) {
    let at = begin_item(b, enterprise, format);
    b.extend_from_slice(data);
    end_item(b, at);
}
