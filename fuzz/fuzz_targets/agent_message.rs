#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| skydive_server::fuzzing::agent_message(data));
