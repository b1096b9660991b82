#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bars_fuzzing::partial_patch(data));
