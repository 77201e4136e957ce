//! Every byte string through the three parse entry points of `nat_core::wire`: none may panic.
#![no_main]

use nat_core::wire::{parse, parse_ipv4, parse_ipv6};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = (parse(data), parse_ipv4(data), parse_ipv6(data));
});
