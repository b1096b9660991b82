#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bars_fuzzing::search_params(data));
