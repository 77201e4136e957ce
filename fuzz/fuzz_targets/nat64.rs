//! Arbitrary packets into the nat64 translator, in the direction the first byte picks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::nat64(data));
