//! Arbitrary packets into the siit translator, in the direction the first byte picks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::siit(data));
