//! Keys and values of stored flow updates.
//!
//! ```text
//! flow_records      [last: 8][uuid]                     -> flow (below)
//! flow_by_node      [len: 2][node_tid][last: 8][uuid]   -> (empty)
//! flow_by_tracking  [len: 2][tracking_id][last: 8][uuid] -> (empty)
//! flow_by_uuid      [len: 2][uuid][last: 8]             -> metric record (below)
//! ```
//! `last` is the flow's `Last` (epoch ms, sign bit flipped, big-endian: byte order is time
//! order), so a time window is one range of `flow_records` and one range per indexed id.
//! `len` is the id's length, big-endian: no id is a prefix of another's key. One flow update
//! is one entry in each keyspace (written in one atomic batch); an update with the same
//! `Last` as the previous one of its flow (a final TIMEOUT record) replaces it.
//!
//! ```text
//! flow          = VERSION node_tid tracking_id l3_tracking_id parent_uuid capture_id
//!                 layers_path application link network transport icmp last_update metric
//!                 start:zz last:zz raw_packets:zz finish:u8 sampling_rate:varint
//! link, network = 0 | 1 protocol:u8 a:string b:string id:zz
//! transport     = 0 | 1 protocol:u8 a:zz b:zz id:zz
//! icmp          = 0 | 1 type:u8 code:varint id:varint
//! last_update   = 0 | 1 metric
//! metric        = ab_packets ab_bytes ba_packets ba_bytes start last rtt   (all zz)
//! metric record = VERSION metric                    (the update's LastUpdateMetric, or its
//!                                                    Metric when it has none)
//! ```
//! The UUID is the key's. `NodeTID` and `TrackingID` come first so retention can find a
//! record's index entries without decoding the rest ([`peek_ids`]). Decoding untrusted bytes
//! never panics: every length is checked against what remains ([`crate::codec`]'s reader).

use skydive_flow::{
    FinishType, Flow, FlowLayer, FlowMetric, FlowProtocol, IcmpLayer, IcmpType, TransportLayer,
};
use skydive_graph::TimeMs;

use crate::codec::{DResult, DecodeError, Reader, put_str, put_varint, put_zigzag};
use crate::keys::{time_bytes, time_from};

/// Version of the flow and metric record layouts.
pub(crate) const FLOW_FORMAT: u8 = 1;

/// Longest UUID, NodeTID or TrackingID stored (they are 16 to 36 characters in practice);
/// a flow with a longer one is refused rather than given an unreadable key.
pub(crate) const MAX_ID_LEN: usize = 1024;

// ----- keys -----

pub(crate) fn record_key(last: i64, uuid: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + uuid.len());
    k.extend_from_slice(&time_bytes(TimeMs(last)));
    k.extend_from_slice(uuid.as_bytes());
    k
}

/// `(last, uuid)` of a `flow_records` key.
pub(crate) fn parse_record_key(k: &[u8]) -> Option<(i64, &str)> {
    let (t, uuid) = k.split_at_checked(8)?;
    let last = time_from(t.try_into().ok()?).0;
    Some((last, std::str::from_utf8(uuid).ok()?))
}

/// `[len][id]`: what every index key of `id` starts with.
pub(crate) fn id_prefix(id: &str) -> Vec<u8> {
    let len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let mut k = Vec::with_capacity(2 + id.len() + 8 + 36);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

/// A `flow_by_node` / `flow_by_tracking` key.
pub(crate) fn index_key(id: &str, last: i64, uuid: &str) -> Vec<u8> {
    let mut k = id_prefix(id);
    k.extend_from_slice(&time_bytes(TimeMs(last)));
    k.extend_from_slice(uuid.as_bytes());
    k
}

/// `(last, uuid)` of an index key whose prefix is `prefix_len` bytes long.
pub(crate) fn parse_index_key(k: &[u8], prefix_len: usize) -> Option<(i64, &str)> {
    parse_record_key(k.get(prefix_len..)?)
}

/// A `flow_by_uuid` key.
pub(crate) fn uuid_key(uuid: &str, last: i64) -> Vec<u8> {
    let mut k = id_prefix(uuid);
    k.extend_from_slice(&time_bytes(TimeMs(last)));
    k
}

/// `[prefix ++ time(lo), prefix ++ time(hi)]` extended over every suffix: the keys under
/// `prefix` whose time is in `lo..=hi`.
pub(crate) fn time_range(prefix: &[u8], lo: i64, hi: i64) -> (Vec<u8>, Vec<u8>) {
    let mut from = prefix.to_vec();
    from.extend_from_slice(&time_bytes(TimeMs(lo)));
    let mut to = prefix.to_vec();
    to.extend_from_slice(&time_bytes(TimeMs(hi)));
    // Every key suffix (a UUID) sorts below this: UUIDs are UTF-8, which never has 0xff.
    to.push(0xff);
    (from, to)
}

// ----- values -----

pub(crate) fn encode_flow(f: &Flow, out: &mut Vec<u8>) {
    out.push(FLOW_FORMAT);
    for s in [
        &f.node_tid,
        &f.tracking_id,
        &f.l3_tracking_id,
        &f.parent_uuid,
        &f.capture_id,
        &f.layers_path,
        &f.application,
    ] {
        put_str(out, s);
    }
    for layer in [&f.link, &f.network] {
        match layer {
            None => out.push(0),
            Some(l) => {
                out.push(1);
                out.push(protocol_byte(l.protocol));
                put_str(out, &l.a);
                put_str(out, &l.b);
                put_zigzag(out, l.id);
            }
        }
    }
    match &f.transport {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            out.push(protocol_byte(t.protocol));
            put_zigzag(out, t.a);
            put_zigzag(out, t.b);
            put_zigzag(out, t.id);
        }
    }
    match &f.icmp {
        None => out.push(0),
        Some(i) => {
            out.push(1);
            out.push(i.icmp_type.number() as u8);
            put_varint(out, u64::from(i.code));
            put_varint(out, u64::from(i.id));
        }
    }
    match &f.last_update_metric {
        None => out.push(0),
        Some(m) => {
            out.push(1);
            put_metric(out, m);
        }
    }
    put_metric(out, &f.metric);
    put_zigzag(out, f.start);
    put_zigzag(out, f.last);
    put_zigzag(out, f.raw_packets_captured);
    out.push(f.finish_type.number() as u8);
    put_varint(out, u64::from(f.sampling_rate));
}

fn protocol_byte(p: FlowProtocol) -> u8 {
    p.number() as u8
}

fn put_metric(out: &mut Vec<u8>, m: &FlowMetric) {
    for v in [
        m.ab_packets,
        m.ab_bytes,
        m.ba_packets,
        m.ba_bytes,
        m.start,
        m.last,
        m.rtt,
    ] {
        put_zigzag(out, v);
    }
}

/// The metric series record of an update: its `LastUpdateMetric`, or its `Metric` before
/// the first update (as Skydive's live metrics do).
pub(crate) fn encode_metric(f: &Flow, out: &mut Vec<u8>) {
    out.push(FLOW_FORMAT);
    put_metric(out, f.last_update_metric.as_ref().unwrap_or(&f.metric));
}

pub(crate) fn decode_metric(bytes: &[u8]) -> DResult<FlowMetric> {
    let mut r = Reader::new(bytes);
    version(&mut r)?;
    let m = metric(&mut r)?;
    r.end()?;
    Ok(m)
}

/// `(NodeTID, TrackingID)` of a stored flow, without decoding the rest.
pub(crate) fn peek_ids(bytes: &[u8]) -> DResult<(&str, &str)> {
    let mut r = Reader::new(bytes);
    version(&mut r)?;
    Ok((r.str()?, r.str()?))
}

pub(crate) fn decode_flow(uuid: &str, bytes: &[u8]) -> DResult<Flow> {
    let mut r = Reader::new(bytes);
    version(&mut r)?;
    let mut s = || r.str().map(str::to_owned);
    let (node_tid, tracking_id, l3_tracking_id) = (s()?, s()?, s()?);
    let (parent_uuid, capture_id, layers_path, application) = (s()?, s()?, s()?, s()?);
    let link = flow_layer(&mut r)?;
    let network = flow_layer(&mut r)?;
    let transport = match r.u8()? {
        0 => None,
        1 => Some(TransportLayer {
            protocol: protocol(r.u8()?)?,
            a: r.zigzag()?,
            b: r.zigzag()?,
            id: r.zigzag()?,
        }),
        _ => return Err(DecodeError("bad transport tag")),
    };
    let icmp = match r.u8()? {
        0 => None,
        1 => Some(IcmpLayer {
            icmp_type: IcmpType::from_number(i64::from(r.u8()?))
                .ok_or(DecodeError("unknown ICMP type"))?,
            code: small(r.varint()?)?,
            id: small(r.varint()?)?,
        }),
        _ => return Err(DecodeError("bad ICMP tag")),
    };
    let last_update_metric = match r.u8()? {
        0 => None,
        1 => Some(metric(&mut r)?),
        _ => return Err(DecodeError("bad last update metric tag")),
    };
    let metric = metric(&mut r)?;
    let (start, last, raw_packets_captured) = (r.zigzag()?, r.zigzag()?, r.zigzag()?);
    let finish_type =
        FinishType::from_number(i64::from(r.u8()?)).ok_or(DecodeError("unknown finish type"))?;
    let sampling_rate = small(r.varint()?)?;
    r.end()?;
    Ok(Flow {
        uuid: uuid.to_owned(),
        layers_path,
        application,
        link,
        network,
        transport,
        icmp,
        last_update_metric,
        metric,
        start,
        last,
        tracking_id,
        l3_tracking_id,
        parent_uuid,
        node_tid,
        capture_id,
        raw_packets_captured,
        finish_type,
        sampling_rate,
    })
}

fn version(r: &mut Reader<'_>) -> DResult<()> {
    match r.u8()? {
        FLOW_FORMAT => Ok(()),
        _ => Err(DecodeError("unknown flow record format version")),
    }
}

fn small(v: u64) -> DResult<u32> {
    u32::try_from(v).map_err(|_| DecodeError("value exceeds 32 bits"))
}

fn protocol(b: u8) -> DResult<FlowProtocol> {
    FlowProtocol::from_number(i64::from(b)).ok_or(DecodeError("unknown flow protocol"))
}

fn flow_layer(r: &mut Reader<'_>) -> DResult<Option<FlowLayer>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(FlowLayer {
            protocol: protocol(r.u8()?)?,
            a: r.str()?.to_owned(),
            b: r.str()?.to_owned(),
            id: r.zigzag()?,
        })),
        _ => Err(DecodeError("bad layer tag")),
    }
}

fn metric(r: &mut Reader<'_>) -> DResult<FlowMetric> {
    Ok(FlowMetric {
        ab_packets: r.zigzag()?,
        ab_bytes: r.zigzag()?,
        ba_packets: r.zigzag()?,
        ba_bytes: r.zigzag()?,
        start: r.zigzag()?,
        last: r.zigzag()?,
        rtt: r.zigzag()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn full_flow() -> Flow {
        Flow {
            uuid: "9fec10677e884a0e".into(),
            layers_path: "Ethernet/IPv4/UDP/VXLAN".into(),
            application: "VXLAN".into(),
            link: Some(FlowLayer {
                protocol: FlowProtocol::Ethernet,
                a: "02:42:ac:11:00:02".into(),
                b: "02:42:ac:11:00:03".into(),
                id: 40968,
            }),
            network: Some(FlowLayer {
                protocol: FlowProtocol::Ipv6,
                a: "2001:db8::a".into(),
                b: "2001:db8::b".into(),
                id: 42,
            }),
            transport: Some(TransportLayer {
                protocol: FlowProtocol::Udp,
                a: 50001,
                b: 4789,
                id: 0,
            }),
            icmp: Some(IcmpLayer {
                icmp_type: IcmpType::TimeExceeded,
                code: 1,
                id: 7,
            }),
            last_update_metric: Some(FlowMetric {
                ab_packets: 1,
                ab_bytes: 98,
                ba_packets: 0,
                ba_bytes: 0,
                start: 1_704_067_200_000,
                last: 1_704_067_202_000,
                rtt: 0,
            }),
            metric: FlowMetric {
                ab_packets: 2,
                ab_bytes: 196,
                ba_packets: 2,
                ba_bytes: 196,
                start: 1_704_067_200_000,
                last: 1_704_067_201_000,
                rtt: 380_000,
            },
            start: 1_704_067_200_000,
            last: 1_704_067_201_000,
            tracking_id: "84094562a5fbd674".into(),
            l3_tracking_id: "a92d39b687f04c1d".into(),
            parent_uuid: "6b6316f00431c39d".into(),
            node_tid: "b9a1e6c6-6a2c-5c2d-7b4e-0d0b0e6e1c25".into(),
            capture_id: "cap".into(),
            raw_packets_captured: 0,
            finish_type: FinishType::TcpRst,
            sampling_rate: 512,
        }
    }

    fn round_trip(f: &Flow) -> Flow {
        let mut buf = Vec::new();
        encode_flow(f, &mut buf);
        decode_flow(&f.uuid, &buf).unwrap()
    }

    #[test]
    fn flows_round_trip() {
        let f = full_flow();
        assert_eq!(round_trip(&f), f);
        let bare = Flow {
            uuid: "u".into(),
            ..Flow::default()
        };
        assert_eq!(round_trip(&bare), bare);
        let mut buf = Vec::new();
        encode_flow(&f, &mut buf);
        assert_eq!(peek_ids(&buf).unwrap(), (&*f.node_tid, &*f.tracking_id));
        let json = serde_json::to_vec(&f).unwrap().len();
        assert!(buf.len() * 2 < json, "{} bytes, JSON {json}", buf.len());
    }

    #[test]
    fn metric_records_fall_back_to_the_whole_life_metric() {
        let mut f = full_flow();
        let mut buf = Vec::new();
        encode_metric(&f, &mut buf);
        assert_eq!(decode_metric(&buf).unwrap(), f.last_update_metric.unwrap());
        f.last_update_metric = None;
        buf.clear();
        encode_metric(&f, &mut buf);
        assert_eq!(decode_metric(&buf).unwrap(), f.metric);
    }

    #[test]
    fn keys_sort_by_id_then_time() {
        let a = index_key("ab", -5, "u");
        let b = index_key("ab", 7, "u");
        let c = index_key("abc", i64::MIN, "u");
        assert!(a < b, "time order within an id");
        assert!(b < c, "a shorter id sorts first whatever the time");
        assert_eq!(parse_index_key(&b, id_prefix("ab").len()), Some((7, "u")));
        assert_eq!(parse_record_key(&record_key(-9, "x")), Some((-9, "x")));
        assert_eq!(parse_record_key(&[1, 2]), None);
        let (lo, hi) = time_range(&id_prefix("ab"), -5, 7);
        assert!(lo <= a && b <= hi);
        assert!(index_key("ab", 8, "") > hi);
        assert!(uuid_key("u", 1) < uuid_key("u", 2));
    }

    #[test]
    fn damaged_records_are_errors() {
        let mut buf = Vec::new();
        encode_flow(&full_flow(), &mut buf);
        for cut in 0..buf.len() {
            assert!(decode_flow("u", &buf[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = buf.clone();
        extra.push(0);
        assert!(decode_flow("u", &extra).is_err());
        let mut v2 = buf.clone();
        v2[0] = 2;
        assert_eq!(
            decode_flow("u", &v2).unwrap_err().to_string(),
            "unknown flow record format version"
        );
        assert!(decode_metric(&[FLOW_FORMAT, 1]).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_flow("u", &bytes);
            let _ = decode_metric(&bytes);
            let _ = peek_ids(&bytes);
        }

        #[test]
        fn arbitrary_flows_round_trip(
            node in "[a-z0-9-]{0,40}", tid in "[0-9a-f]{0,16}", a in any::<i64>(), b in any::<i64>(),
            pk in any::<i64>(), last in any::<i64>(), code in any::<u32>(), rate in any::<u32>(),
            text in "\\PC{0,20}",
        ) {
            let mut f = full_flow();
            f.node_tid = node;
            f.tracking_id = tid;
            f.application = text;
            f.transport.as_mut().unwrap().a = a;
            f.transport.as_mut().unwrap().b = b;
            f.metric.ab_packets = pk;
            f.last = last;
            f.icmp.as_mut().unwrap().code = code;
            f.sampling_rate = rate;
            prop_assert_eq!(round_trip(&f), f);
        }
    }
}
