//! Arbitrary inside packets into the NAT44 engine: none may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::nat44(
    nat_core::verdict::Direction::Outbound,
    data
));
