#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skydive_flow::fuzzing::sflow_datagram(data));
