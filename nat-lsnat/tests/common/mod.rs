//! Shared pieces of the simulation tests: a seeded PRNG and key builders.
#![allow(dead_code, unreachable_pub)]

use core::net::Ipv4Addr;
use nat_core::flow::{Endpoint, FlowKey, L4Proto};

/// The virtual server address of the draft's figures.
pub const VIP: Ipv4Addr = Ipv4Addr::new(172, 87, 0, 100);

/// SplitMix64: a deterministic generator for synthetic arrivals.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The `i`-th real server address.
pub fn server_addr(i: usize) -> Ipv4Addr {
    let [_, _, b, c] = u32::try_from(i + 1).unwrap().to_be_bytes();
    Ipv4Addr::new(172, 85, b, c)
}

/// A TCP key from client number `c` to the virtual server's `port`.
pub fn client_key(c: u64, port: u16) -> FlowKey<Ipv4Addr> {
    let [_, b, x, y] = u32::try_from(c % (1 << 24)).unwrap().to_be_bytes();
    FlowKey::new(
        L4Proto::Tcp,
        Endpoint::new(Ipv4Addr::new(10, b, x, y), 1024 + (c >> 24) as u16 % 60000),
        Endpoint::new(VIP, port),
    )
}
