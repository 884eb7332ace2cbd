//! Typed sFlow counter records: generic interface counters (format 1, RFC 2233 `ifTable`
//! and `ifXTable` values, 88 bytes) and Ethernet interface counters (format 2, RFC 2358
//! `dot3StatsTable`, 52 bytes). Longer records (a later revision adding fields) are
//! accepted and the extra bytes ignored; shorter ones are an error.
//!
//! ```text
//! generic interface counters (1)        ethernet interface counters (2)
//! ifIndex u32 | ifType u32              dot3StatsAlignmentErrors u32
//! ifSpeed u64 (bits/s)                  dot3StatsFCSErrors u32
//! ifDirection u32 (0 unknown, 1 full,   dot3StatsSingleCollisionFrames u32
//!   2 half, 3 in, 4 out)                dot3StatsMultipleCollisionFrames u32
//! ifStatus u32 (bit 0 admin up,         dot3StatsSQETestErrors u32
//!   bit 1 oper up)                      dot3StatsDeferredTransmissions u32
//! ifInOctets u64                        dot3StatsLateCollisions u32
//! ifInUcastPkts, ifInMulticastPkts,     dot3StatsExcessiveCollisions u32
//! ifInBroadcastPkts, ifInDiscards,      dot3StatsInternalMacTransmitErrors u32
//! ifInErrors, ifInUnknownProtos u32     dot3StatsCarrierSenseErrors u32
//! ifOutOctets u64                       dot3StatsFrameTooLongs u32
//! ifOutUcastPkts, ifOutMulticastPkts,   dot3StatsInternalMacReceiveErrors u32
//! ifOutBroadcastPkts, ifOutDiscards,    dot3StatsSymbolErrors u32
//! ifOutErrors, ifPromiscuousMode u32
//! ```

use super::SflowError;
use crate::cursor::Cursor;

/// Defines a counter record struct read and written field by field, in wire order.
macro_rules! counter_record {
    ($(#[$meta:meta])* $name:ident, $what:literal, $len:literal { $($field:ident: $ty:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            $(pub $field: $ty,)*
        }

        impl $name {
            /// Bytes of the record on the wire.
            pub const WIRE_LEN: u32 = $len;

            pub(crate) fn parse(cur: &mut Cursor<'_>) -> Result<Self, SflowError> {
                let len = cur.remaining();
                let short = SflowError::ShortRecord {
                    what: $what,
                    len: u32::try_from(len).unwrap_or(u32::MAX),
                    min: $len,
                };
                Ok($name { $($field: cur.$ty().ok_or(short)?,)* })
            }

            pub(crate) fn encode(&self, out: &mut Vec<u8>) {
                $(out.extend_from_slice(&self.$field.to_be_bytes());)*
            }
        }
    };
}

counter_record! {
    /// Generic interface counters (counter record format 1).
    GenericInterfaceCounters, "generic interface counters", 88 {
        if_index: u32,
        if_type: u32,
        if_speed: u64,
        if_direction: u32,
        if_status: u32,
        if_in_octets: u64,
        if_in_ucast_pkts: u32,
        if_in_multicast_pkts: u32,
        if_in_broadcast_pkts: u32,
        if_in_discards: u32,
        if_in_errors: u32,
        if_in_unknown_protos: u32,
        if_out_octets: u64,
        if_out_ucast_pkts: u32,
        if_out_multicast_pkts: u32,
        if_out_broadcast_pkts: u32,
        if_out_discards: u32,
        if_out_errors: u32,
        if_promiscuous_mode: u32,
    }
}

counter_record! {
    /// Ethernet interface counters (counter record format 2).
    EthernetCounters, "ethernet counters", 52 {
        alignment_errors: u32,
        fcs_errors: u32,
        single_collision_frames: u32,
        multiple_collision_frames: u32,
        sqe_test_errors: u32,
        deferred_transmissions: u32,
        late_collisions: u32,
        excessive_collisions: u32,
        internal_mac_transmit_errors: u32,
        carrier_sense_errors: u32,
        frame_too_longs: u32,
        internal_mac_receive_errors: u32,
        symbol_errors: u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_lengths_match_the_specification() {
        let mut out = Vec::new();
        GenericInterfaceCounters::default().encode(&mut out);
        assert_eq!(out.len() as u32, GenericInterfaceCounters::WIRE_LEN);
        out.clear();
        EthernetCounters::default().encode(&mut out);
        assert_eq!(out.len() as u32, EthernetCounters::WIRE_LEN);
    }

    #[test]
    fn short_records_are_rejected() {
        let bytes = [0u8; 87];
        let err = GenericInterfaceCounters::parse(&mut Cursor::new(&bytes)).unwrap_err();
        assert_eq!(
            err,
            SflowError::ShortRecord {
                what: "generic interface counters",
                len: 87,
                min: 88
            }
        );
    }

    #[test]
    fn fields_are_read_in_wire_order() {
        let c = GenericInterfaceCounters {
            if_index: 3,
            if_speed: 10_000_000_000,
            if_in_octets: 1 << 40,
            if_promiscuous_mode: 1,
            ..Default::default()
        };
        let mut out = Vec::new();
        c.encode(&mut out);
        out.extend_from_slice(&[0xee; 8]); // a later revision's extra fields
        assert_eq!(
            GenericInterfaceCounters::parse(&mut Cursor::new(&out)).unwrap(),
            c
        );
    }
}
