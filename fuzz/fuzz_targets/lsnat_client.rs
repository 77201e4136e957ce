//! Arbitrary client packets into the LSNAT translator: none may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::lsnat(
    nat_core::verdict::Direction::Inbound,
    data
));
