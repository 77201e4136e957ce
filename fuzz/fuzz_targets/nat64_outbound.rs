//! Arbitrary IPv6 packets into the stateful NAT64: none may panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nat_fuzz::nat64(
    nat_core::verdict::Direction::Outbound,
    data
));
