#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skydive_probes::fuzzing::ovsdb_jsonrpc(data));
