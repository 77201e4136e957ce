//! Arbitrary IPv6 packets into SIIT: none may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::siit(
    nat_core::verdict::Direction::Outbound,
    data
));
