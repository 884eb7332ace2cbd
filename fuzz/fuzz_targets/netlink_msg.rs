#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skydive_probes::fuzzing::netlink_msg(data));
