//! Memory per subscriber and per pool address, printed and bounded (see the crate docs).

use core::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};

use nat_alloc::*;

#[test]
fn memory_per_subscriber_and_address() {
    let sub4 = size_of::<SubscriberSlot<Ipv4Addr>>();
    let sub6 = size_of::<SubscriberSlot<Ipv6Addr>>();
    let addr = size_of::<AddressSlot>();
    let hold = size_of::<HoldSlot>();
    let exempt = size_of::<ExemptSlot>();
    let block4 = size_of::<BlockSlot<Ipv4Addr>>();
    let block6 = size_of::<BlockSlot<Ipv6Addr>>();
    let det = size_of::<DeterministicSlot>();
    let simple = size_of::<SimpleAllocator>();
    let block_alloc = size_of::<BlockAllocator<Ipv4Addr>>();
    // Block mode at the defaults: N = 256 ports, M = 8 blocks, tiles 1024..=65535.
    let (n, m) = (256usize, 8usize);
    let block_bitmaps = 3 * n.div_ceil(64) * 8;
    let bpa = (65536 - 1024) / n;
    let pool_bits_per_addr = bpa.div_ceil(64) * 8;
    // The subscriber table runs at most 7/8 full.
    let sub_table4 = sub4 * 8 / 7;
    let block_sub4 = sub_table4 + m * (block4 + block_bitmaps);
    // Deterministic, P = 2,000 ports per subscriber.
    let det_sub = det + 3 * 2000usize.div_ceil(64) * 8;
    std::println!(
        "SubscriberSlot<Ipv4Addr> {sub4} B, <Ipv6Addr> {sub6} B (table at 7/8: {sub_table4} B)"
    );
    std::println!(
        "per-port pool: AddressSlot {addr} B per outside address; HoldSlot {hold} B per held port; ExemptSlot {exempt} B"
    );
    std::println!(
        "blocks: BlockSlot<Ipv4Addr> {block4} B, <Ipv6Addr> {block6} B, + {block_bitmaps} B of bitmaps per block of {n}"
    );
    std::println!(
        "blocks: {pool_bits_per_addr} B per outside address; up to {block_sub4} B per NAT44 subscriber with {m} blocks"
    );
    std::println!(
        "deterministic: DeterministicSlot {det} B, {det_sub} B per subscriber of 2000 ports"
    );
    std::println!("SimpleAllocator {simple} B; BlockAllocator<Ipv4Addr> {block_alloc} B");
    assert!(sub4 <= 64 && sub6 <= 72, "{sub4} {sub6}");
    assert!(addr <= 25_400, "{addr}");
    assert!(hold <= 16 && exempt <= 8);
    assert!(block4 <= 40 && block6 <= 56, "{block4} {block6}");
    assert!(pool_bits_per_addr <= 32);
    assert!(block_sub4 <= 1170, "{block_sub4}");
    assert!(det <= 32 && det_sub <= 800, "{det} {det_sub}");
    assert!(simple <= 25_400);
    assert!(block_alloc <= 1_536, "{block_alloc}");
}
