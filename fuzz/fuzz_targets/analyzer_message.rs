#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skydive_server::fuzzing::analyzer_message(data));
