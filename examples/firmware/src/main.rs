//! `firmware`: a NAT44 kept in a `static` on a bare-metal Cortex-M4F (`thumbv7em-none-eabihf`),
//! with no heap, no `std` and no `unsafe` of its own.
//!
//! The translator lives in `NAT`, a `critical_section::Mutex<RefCell<Option<..>>>`, so that
//! the main loop and an Ethernet interrupt handler can both reach it. Its two large parts stay
//! out of that value, each in a static of its own, so that nothing large is ever built on the
//! stack and moved (the stack shares the 128 KiB of RAM):
//!
//! - the session table, a [`FixedStore`] of [`SESSIONS`] entries whose `const fn new` lets it be
//!   initialised at compile time (`ConstStaticCell`, zero-filled `.bss`);
//! - the port allocator, a [`SimpleAllocator`] (one outside address, port preservation),
//!   built in place in its `StaticCell` at boot.
//!
//! The program translates a canned UDP datagram from flash outbound, turns the result into the
//! remote host's reply and translates that inbound, checks that the inside host gets back
//! exactly what it would expect, lets the session expire, and parks the core. The outcome is
//! left in `STATUS` for a debugger (`1`: passed). A real board would take `now` from a timer
//! (SysTick, a RTC) and packets from its Ethernet DMA ring instead.
//!
//! Build with `cargo build --release --target thumbv7em-none-eabihf` in this directory. To run
//! it without a board, link it at address 0 (`FLASH : ORIGIN = 0x00000000` in `memory.x`), start
//! `qemu-system-arm -M mps2-an386 -nographic -monitor stdio -kernel <elf>` and read `STATUS`
//! with the monitor's `xp /1wx <address of STATUS>` (from `nm`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::cell::RefCell;
use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use cortex_m_rt::entry;
use critical_section::Mutex;
use nat_alloc::{PortRange, SimpleAllocator};
use nat_core::nat44::{Nat44, Nat44Config, PrefixList};
use nat_core::prefix::Prefix;
use nat_core::session::{FixedStore, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, Verdict};
use panic_halt as _;
use static_cell::{ConstStaticCell, StaticCell};

/// Sessions (and bindings) the table holds: about 176 bytes each.
const SESSIONS: usize = 256;
/// Key of the table's hashes. A board would derive it from its unique ID or a TRNG at boot, so
/// that outside hosts cannot aim collisions at the table.
const SEED: u64 = 0x6e61_7434_345f_6677;
/// Bytes before a packet where the engine may write the ICMP error it owes (it needs 28).
const HEADROOM: usize = 28;
/// The largest packet of the link.
const MTU: usize = 1500;
/// The outside address of the translator.
const POOL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The inside network and the translator's own address on it.
const INSIDE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
const INSIDE_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

type Store = FixedStore<Ipv4Addr, Ipv4Addr, SESSIONS>;
/// The translator: 16 queued log events, 4 held SYNs, 8 remembered fragment translations and
/// one fragment waiting for its first (the defaults are sized for a CGN, not a 128 KiB part).
type Nat = Nat44<&'static mut Store, &'static mut SimpleAllocator, 16, 4, 8, 1>;

/// The session table, zero-initialised at compile time.
static STORE: ConstStaticCell<Store> = ConstStaticCell::new(FixedStore::new(SEED));
/// The port allocator, built in place at boot (its constructor is not `const`).
static ALLOCATOR: StaticCell<Option<SimpleAllocator>> = StaticCell::new();
/// The translator, shared between thread mode and interrupt handlers.
static NAT: Mutex<RefCell<Option<Nat>>> = Mutex::new(RefCell::new(None));
/// How the run went, for a debugger: a [`Status`]. `#[used]` keeps it (and the stores to it)
/// in the image although the program itself never reads it.
#[used]
static STATUS: AtomicU32 = AtomicU32::new(Status::Running as u32);

/// A UDP datagram from 10.0.0.2:5000 to 203.0.113.5:53 with the payload `firmware`, its IPv4
/// header and UDP checksums correct: in flash.
static OUTBOUND: [u8; 36] = [
    0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xe2, 0x8d, // IPv4, UDP
    0x0a, 0x00, 0x00, 0x02, 0xcb, 0x00, 0x71, 0x05, // 10.0.0.2 -> 203.0.113.5
    0x13, 0x88, 0x00, 0x35, 0x00, 0x10, 0xe3, 0x6b, // 5000 -> 53, length 16
    0x66, 0x69, 0x72, 0x6d, 0x77, 0x61, 0x72, 0x65, // "firmware"
];

/// Outcome of the run, left in [`STATUS`].
#[derive(Clone, Copy)]
#[repr(u32)]
enum Status {
    /// Still running.
    Running = 0,
    /// Every check passed.
    Passed = 1,
    /// The translator could not be set up.
    Setup = 2,
    /// The outbound datagram was not translated as expected.
    Outbound = 3,
    /// The inbound reply was not translated as expected.
    Inbound = 4,
    /// The session did not expire after the UDP timeout.
    Expiry = 5,
}

#[entry]
fn main() -> ! {
    let status = match setup().and_then(|()| run()) {
        Ok(()) => Status::Passed,
        Err(s) => s,
    };
    STATUS.store(status as u32, Ordering::Relaxed);
    loop {
        cortex_m::asm::wfi();
    }
}

/// The engine's configuration: subscribers in 10.0.0.0/24 behind [`POOL`].
fn config() -> Option<Nat44Config> {
    let mut inside = PrefixList::new();
    inside.push(Prefix::new(INSIDE, 24).ok()?).ok()?;
    let mut outside = PrefixList::new();
    outside.push(Prefix::new(POOL, 32).ok()?).ok()?;
    Some(Nat44Config {
        inside_prefixes: inside,
        outside_prefixes: outside,
        inside_address: INSIDE_ADDRESS,
        // Off so that the round trip gives back the original bytes; a board that routes
        // (rather than sits behind a router) turns it on.
        decrement_ttl: false,
        ..Nat44Config::default()
    })
}

/// Puts the translator in [`NAT`], over the store and the allocator in their statics.
fn setup() -> Result<(), Status> {
    let store = STORE.try_take().ok_or(Status::Setup)?;
    let alloc = ALLOCATOR
        .try_init_with(|| SimpleAllocator::new(POOL, PortRange::DYNAMIC).ok())
        .and_then(Option::as_mut)
        .ok_or(Status::Setup)?;
    let nat =
        Nat44::new(config().ok_or(Status::Setup)?, store, alloc).map_err(|_| Status::Setup)?;
    critical_section::with(|cs| NAT.borrow_ref_mut(cs).replace(nat));
    Ok(())
}

/// Runs `f` on the translator, inside a critical section.
fn with_nat<R>(f: impl FnOnce(&mut Nat) -> R) -> Option<R> {
    critical_section::with(|cs| NAT.borrow_ref_mut(cs).as_mut().map(f))
}

/// Translates the packet of `len` bytes at `buf[HEADROOM..]` arriving from `dir`, and returns
/// where the packet to forward is, if it is to be forwarded.
fn forward(now: Instant, dir: Direction, buf: &mut [u8], len: usize) -> Option<(usize, usize)> {
    match with_nat(|nat| nat.process(now, dir, buf, HEADROOM, len))? {
        Verdict::Forward { start, len } => Some((start, len)),
        Verdict::Reply { .. } | Verdict::Hold | Verdict::Drop(_) => None,
    }
}

/// Swaps the source and destination addresses (bytes 12..20) and ports (20..24) of an IPv4
/// UDP packet without options: the remote host's reply. The checksums stay right, as a ones'
/// complement sum does not depend on the order of its words.
fn swap_endpoints(pkt: &mut [u8]) {
    if let Some(addrs) = pkt.get_mut(12..20) {
        addrs.rotate_left(4);
    }
    if let Some(ports) = pkt.get_mut(20..24) {
        ports.rotate_left(2);
    }
}

/// The canned exchange: outbound, the reply inbound, then expiry.
fn run() -> Result<(), Status> {
    let mut buf = [0u8; HEADROOM + MTU];
    let len = OUTBOUND.len();
    buf[HEADROOM..HEADROOM + len].copy_from_slice(&OUTBOUND);

    // Outbound: the source becomes POOL, the port preserved.
    let t0 = Instant::ZERO;
    let (start, n) = forward(t0, Direction::Outbound, &mut buf, len).ok_or(Status::Outbound)?;
    let pkt = buf.get_mut(start..start + n).ok_or(Status::Outbound)?;
    if pkt.get(12..16) != Some(&POOL.octets()[..]) || pkt.get(16..24) != OUTBOUND.get(16..24) {
        return Err(Status::Outbound);
    }

    // The remote host answers; the reply goes back to 10.0.0.2:5000 unchanged otherwise.
    swap_endpoints(pkt);
    buf.copy_within(start..start + n, HEADROOM);
    let t1 = t0 + Duration::from_millis(20);
    let (start, n) = forward(t1, Direction::Inbound, &mut buf, n).ok_or(Status::Inbound)?;
    let mut expected = OUTBOUND;
    swap_endpoints(&mut expected);
    if buf.get(start..start + n) != Some(&expected[..]) {
        return Err(Status::Inbound);
    }

    // Nothing more: the session expires after the UDP timeout (RFC 4787 REQ-5).
    let timeout = with_nat(|nat| nat.config().timeouts.udp).ok_or(Status::Expiry)?;
    let later = t1 + timeout + Duration::from_secs(1);
    let expired = with_nat(|nat| nat.handle_timeout(later, 8)).ok_or(Status::Expiry)?;
    let left = with_nat(|nat| nat.store().session_count()).ok_or(Status::Expiry)?;
    if expired != 1 || left != 0 {
        return Err(Status::Expiry);
    }
    Ok(())
}
