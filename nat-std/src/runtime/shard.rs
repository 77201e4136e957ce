//! Which worker owns a NAT44 packet, when the translator is sharded over several workers
//! (`tun.queues` > 1): the rule that lets each worker keep its own session table and allocator
//! with no lock between them.
//!
//! A subscriber (inside address) belongs to one worker, chosen by a hash of its address, so
//! paired pooling and its quotas stay within one allocator ([RFC 6888] REQ-2, REQ-4). Each
//! worker's allocator hands out ports only from its own slice of every outside address's
//! port range (per-port and port-block modes), so an inbound packet's owner follows from its
//! destination port; in deterministic mode from the reverse function of [RFC 7422]. The kernel
//! spreads packets over the TUN queues by its own flow hash, which knows nothing of this: a
//! worker that reads a packet it does not own hands it to the owner ([`super::mesh`]).
//!
//! Later fragments carry no port: they follow the owner of their first fragment, remembered
//! per worker under (source, destination, identification, protocol); one that comes before its
//! first waits for it in a small bounded buffer ([RFC 4787] REQ-14).
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888
//! [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787

use crate::config::{AllocMode, AllocPolicy, StaticMapping};
use nat_alloc::{BlockLayout, DeterministicMap};
use nat_core::flow::{Endpoint, L4Proto};
use nat_core::nat44::PrefixList;
use nat_core::verdict::Direction;
use nat_core::wire::{Transport, parse_ipv4};
use std::net::Ipv4Addr;

/// The most workers a translator may be sharded over.
pub const MAX_WORKERS: usize = 64;

/// A datagram's fragments: (source, destination, identification, protocol).
pub type FragmentKey = (Ipv4Addr, Ipv4Addr, u16, u8);

/// Where a packet goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The worker that owns it, if the packet says (a later fragment from the outside does
    /// not: it follows its first).
    pub owner: Option<usize>,
    /// The packet is a fragment: its datagram, and whether it is the first fragment.
    pub fragment: Option<(FragmentKey, bool)>,
}

impl Route {
    /// Whoever read the packet translates it (it does not parse, or nothing says otherwise).
    pub const ANY: Route = Route {
        owner: None,
        fragment: None,
    };
}

/// The ports of each worker: `workers` slices of `per` ports from `first` up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortSlices {
    first: u16,
    per: u16,
    workers: u16,
}

impl PortSlices {
    /// Splits `first..=last` into `workers` slices whose length is a multiple of `unit` (2
    /// keeps port parity, RFC 4787 REQ-4; a block size keeps blocks whole). `None` if a slice
    /// would be empty.
    pub fn new(first: u16, last: u16, workers: usize, unit: u16) -> Option<PortSlices> {
        let total = u32::from(last).checked_sub(u32::from(first))? + 1;
        let workers = u32::try_from(workers).ok().filter(|&w| w > 0)?;
        let unit = u32::from(unit.max(1));
        let per = total / workers / unit * unit;
        (per > 0).then(|| PortSlices {
            first,
            per: u16::try_from(per).unwrap_or(u16::MAX),
            workers: workers as u16,
        })
    }

    /// The ports of worker `k`, first and last.
    pub fn slice(&self, k: usize) -> (u16, u16) {
        let lo = u32::from(self.first) + k as u32 * u32::from(self.per);
        let hi = lo + u32::from(self.per) - 1;
        (lo.min(65535) as u16, hi.min(65535) as u16)
    }

    /// The worker whose slice holds `port`.
    #[inline]
    pub fn owner(&self, port: u16) -> Option<usize> {
        let k = port.checked_sub(self.first)? / self.per;
        (k < self.workers).then_some(usize::from(k))
    }
}

/// How inbound packets find their owner.
#[derive(Debug)]
enum Outside {
    /// By the slice of the destination port.
    Slices(PortSlices),
    /// By the deterministic reverse function, then the subscriber's worker.
    Deterministic(DeterministicMap<'static, Ipv4Addr>),
}

/// The ownership rule of a sharded NAT44.
#[derive(Debug)]
pub struct Nat44Shards {
    workers: usize,
    pool: PrefixList,
    outside: Outside,
    /// Static mappings and their workers: they belong to the owner of their outside port,
    /// whatever the hash of their inside address says.
    statics: Vec<(L4Proto, Endpoint<Ipv4Addr>, Endpoint<Ipv4Addr>, usize)>,
}

impl Nat44Shards {
    /// Whether `policy` can be split over `workers` workers (what [`new`](Self::new) checks
    /// of it, without building anything).
    pub fn check(workers: usize, policy: &AllocPolicy) -> Result<(), String> {
        Self::port_slices(workers, policy).map(|_| ())
    }

    /// The workers' port slices (`None` in deterministic mode, which needs none).
    fn port_slices(workers: usize, policy: &AllocPolicy) -> Result<Option<PortSlices>, String> {
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(format!("{workers} (1 to {MAX_WORKERS})"));
        }
        let unit = match policy.mode {
            AllocMode::Deterministic => return Ok(None),
            // Scattered blocks permute pairs of ports: a slice needs an even length.
            AllocMode::PortBlock if policy.block_layout == BlockLayout::Scattered => {
                policy.block_size.saturating_mul(1 + policy.block_size % 2)
            }
            AllocMode::PortBlock => policy.block_size,
            AllocMode::PerPort => 2,
        };
        let (first, last) = policy.ports;
        PortSlices::new(first, last, workers, unit)
            .map(Some)
            .ok_or_else(|| {
                format!(
                    "allocation.ports {first}-{last} cannot be split over {workers} queues (each \
                 needs at least {unit} ports)"
                )
            })
    }

    /// The rule for `workers` workers over `policy`'s pool, with the static mappings.
    /// Errors name the setting that does not allow the split.
    pub fn new(
        workers: usize,
        pool: &PrefixList,
        policy: &AllocPolicy,
        statics: &[StaticMapping],
    ) -> Result<Nat44Shards, String> {
        let outside =
            match Self::port_slices(workers, policy).map_err(|m| format!("tun.queues: {m}"))? {
                Some(s) => Outside::Slices(s),
                None => {
                    // Leaked once at start: the map lives as long as the process.
                    let ranges = Box::leak(policy.ranges().into_boxed_slice());
                    let map = DeterministicMap::new(&policy.deterministic_config(ranges))
                        .map_err(|e| format!("allocation: {e}"))?;
                    Outside::Deterministic(map)
                }
            };
        let mut shards = Nat44Shards {
            workers,
            pool: pool.clone(),
            outside,
            statics: Vec::new(),
        };
        for s in statics {
            let owner = match &shards.outside {
                Outside::Slices(sl) => sl.owner(s.outside.port),
                Outside::Deterministic(_) => None,
            }
            .unwrap_or_else(|| shards.subscriber_owner(s.inside.addr));
            shards.statics.push((s.proto, s.inside, s.outside, owner));
        }
        Ok(shards)
    }

    /// How many workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The ports worker `k`'s allocator may hand out (per-port and port-block modes).
    pub fn ports_of(&self, k: usize) -> Option<(u16, u16)> {
        match &self.outside {
            Outside::Slices(s) => Some(s.slice(k)),
            Outside::Deterministic(_) => None,
        }
    }

    /// The worker of a static mapping.
    pub fn static_owner(&self, s: &StaticMapping) -> usize {
        self.statics
            .iter()
            .find(|&&(p, i, o, _)| p == s.proto && i == s.inside && o == s.outside)
            .map_or(0, |s| s.3)
    }

    /// The worker of the subscriber `inside`: a multiplicative hash of the address.
    #[inline]
    pub fn subscriber_owner(&self, inside: Ipv4Addr) -> usize {
        let h = u32::from(inside).wrapping_mul(0x9e37_79b1);
        ((u64::from(h) * self.workers as u64) >> 32) as usize
    }

    /// Whether `dst` is in the pool: a packet a worker sent there must be finished by the
    /// owner of that outside endpoint (hairpinning).
    #[inline]
    pub fn is_pool(&self, dst: Ipv4Addr) -> bool {
        self.pool.iter().any(|p| p.contains(dst))
    }

    fn outside_owner(&self, proto: L4Proto, outside: Endpoint<Ipv4Addr>) -> Option<usize> {
        if let Some(s) = self
            .statics
            .iter()
            .find(|&&(p, _, o, _)| p == proto && o == outside)
        {
            return Some(s.3);
        }
        match &self.outside {
            Outside::Slices(s) => s.owner(outside.port),
            Outside::Deterministic(m) => m.reverse(outside).map(|a| self.subscriber_owner(a)),
        }
    }

    fn inside_owner(&self, proto: L4Proto, inside: Endpoint<Ipv4Addr>) -> usize {
        if let Some(s) = self
            .statics
            .iter()
            .find(|&&(p, i, _, _)| p == proto && i == inside)
        {
            return s.3;
        }
        self.subscriber_owner(inside.addr)
    }

    /// The owner of a packet from `dir`. What does not parse goes to whoever read it (its
    /// engine counts the drop).
    pub fn route(&self, dir: Direction, pkt: &[u8]) -> Route {
        let Ok(info) = parse_ipv4(pkt) else {
            return Route::ANY;
        };
        let fragment = info.fragment.map(|f| {
            (
                (info.src, info.dst, f.id as u16, info.protocol),
                f.is_first(),
            )
        });
        let owner = match (dir, info.transport) {
            (Direction::Outbound, Transport::Flow { key, .. }) => {
                Some(self.inside_owner(key.proto, key.src))
            }
            // An error about a packet sent in: the quote is (remote -> inside endpoint),
            // whoever inside (a router on the way) sent the error.
            (Direction::Outbound, Transport::IcmpError { quote, .. }) => {
                Some(self.inside_owner(quote.key.proto, quote.key.dst))
            }
            (Direction::Outbound, _) => Some(self.subscriber_owner(info.src)),
            (Direction::Inbound, Transport::Flow { key, .. }) => {
                self.outside_owner(key.proto, key.dst)
            }
            // An error about a packet sent out: the quote is (outside endpoint -> remote).
            (Direction::Inbound, Transport::IcmpError { quote, .. }) => {
                self.outside_owner(quote.key.proto, quote.key.src)
            }
            (Direction::Inbound, _) => None,
        };
        Route { owner, fragment }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_tile_the_range_and_own_their_ports() {
        let s = PortSlices::new(1024, 65535, 3, 2).unwrap();
        let mut prev_hi = 1023u16;
        for k in 0..3 {
            let (lo, hi) = s.slice(k);
            assert_eq!(lo, prev_hi + 1, "contiguous");
            assert_eq!((hi - lo + 1) % 2, 0, "even length keeps parity");
            assert_eq!(s.owner(lo), Some(k));
            assert_eq!(s.owner(hi), Some(k));
            prev_hi = hi;
        }
        assert_eq!(s.owner(1023), None);
        // The remainder past the last slice belongs to nobody (no allocator hands it out).
        if prev_hi < 65535 {
            assert_eq!(s.owner(prev_hi + 1), None);
        }
        assert_eq!(
            PortSlices::new(1024, 1025, 4, 2),
            None,
            "empty slices refused"
        );
        let b = PortSlices::new(1024, 65535, 2, 256).unwrap();
        assert_eq!((b.slice(0).1 - b.slice(0).0 + 1) % 256, 0, "whole blocks");
    }

    fn validated(extra: &str) -> crate::config::Validated {
        let text = format!(
            "[tun]\nname = \"t\"\n[nat]\ninside = [\"10.0.0.0/16\"]\npool = [\"198.51.100.0/30\"]\n\
             inside_address = \"10.0.0.1\"\nmax_sessions = 1024\n[allocation]\nseed = 7\n{extra}"
        );
        let p = std::path::Path::new("t.toml");
        crate::config::Config::parse(p, &text)
            .and_then(|c| c.validate(p, &text))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn shards(workers: usize, extra: &str) -> Nat44Shards {
        let v = validated(extra);
        Nat44Shards::new(workers, &v.nat.outside_prefixes, &v.alloc, &v.statics).unwrap()
    }

    #[test]
    fn subscribers_spread_over_every_worker() {
        let s = shards(4, "");
        let mut seen = [0u32; 4];
        for i in 0..1024u32 {
            let k = s.subscriber_owner(Ipv4Addr::from(0x0a00_0000 + i));
            seen[k] += 1;
        }
        for n in seen {
            assert!((200..=312).contains(&n), "{seen:?}");
        }
    }

    fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 28, 0, 7, 0, 0, 64, 17, 0, 0];
        p.extend(src.0.octets());
        p.extend(dst.0.octets());
        p.extend(src.1.to_be_bytes());
        p.extend(dst.1.to_be_bytes());
        p.extend([0, 8, 0, 0]);
        p
    }

    /// Port Unreachable from `from` quoting `quoted`.
    fn unreachable(from: Ipv4Addr, to: Ipv4Addr, quoted: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45,
            0,
            0,
            (28 + quoted.len()) as u8,
            0,
            8,
            0,
            0,
            64,
            1,
            0,
            0,
        ];
        p.extend(from.octets());
        p.extend(to.octets());
        p.extend([3, 3, 0, 0, 0, 0, 0, 0]);
        p.extend(quoted);
        p
    }

    const X: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
    const Y: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 9);
    const P: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

    #[test]
    fn inbound_follows_the_port_slice_and_outbound_the_subscriber() {
        let s = shards(2, "");
        let (lo1, _) = s.ports_of(1).unwrap();
        let (lo0, hi0) = s.ports_of(0).unwrap();
        assert_eq!(lo0, 1024);
        let owner = |dir, p: &[u8]| s.route(dir, p).owner;
        assert_eq!(owner(Direction::Inbound, &udp((Y, 53), (P, lo0))), Some(0));
        assert_eq!(owner(Direction::Inbound, &udp((Y, 53), (P, hi0))), Some(0));
        assert_eq!(owner(Direction::Inbound, &udp((Y, 53), (P, lo1))), Some(1));
        assert_eq!(owner(Direction::Inbound, &udp((Y, 53), (P, 80))), None);
        let x = s.subscriber_owner(X);
        assert_eq!(
            owner(Direction::Outbound, &udp((X, 5000), (Y, 53))),
            Some(x)
        );
        // An error from the outside about X's packet (quoted as it left: P:lo1 -> Y:53).
        let e = unreachable(Y, P, &udp((P, lo1), (Y, 53)));
        assert_eq!(owner(Direction::Inbound, &e), Some(1));
        // An error from an inside router about a packet sent in to X: X's worker.
        let router = Ipv4Addr::new(10, 0, 9, 9);
        let e = unreachable(router, Y, &udp((Y, 53), (X, 5000)));
        assert_eq!(owner(Direction::Outbound, &e), Some(x));
    }

    #[test]
    fn fragments_are_marked_first_or_later() {
        let s = shards(2, "");
        let mut first = udp((Y, 53), (P, 1024));
        first[6] = 0x20; // MF
        let r = s.route(Direction::Inbound, &first);
        assert_eq!(r.owner, Some(0));
        assert_eq!(r.fragment, Some(((Y, P, 7, 17), true)));
        let mut later = first[..20].to_vec();
        later.extend([0u8; 8]);
        later[6] = 0x00;
        later[7] = 1; // offset 8, last
        let r = s.route(Direction::Inbound, &later);
        assert_eq!(r.owner, None, "no port: follows its first");
        assert_eq!(r.fragment, Some(((Y, P, 7, 17), false)));
    }

    #[test]
    fn deterministic_inbound_finds_the_subscriber_by_reverse() {
        let s = shards(
            3,
            "mode = \"deterministic\"\nports_per_subscriber = 3\nports = \"1024-65535\"\n",
        );
        let v = validated(
            "mode = \"deterministic\"\nports_per_subscriber = 3\nports = \"1024-65535\"\n",
        );
        let ranges = v.alloc.ranges();
        let map = DeterministicMap::new(&v.alloc.deterministic_config(&ranges)).unwrap();
        for i in 2..300u32 {
            let inside = Ipv4Addr::from(0x0a00_0000 + i);
            let r = map.forward(inside).unwrap();
            let pkt = udp((Y, 53), (r.outside, r.first_port + 2));
            assert_eq!(
                s.route(Direction::Inbound, &pkt).owner,
                Some(s.subscriber_owner(inside)),
                "{inside}"
            );
        }
    }

    #[test]
    fn statics_belong_to_the_owner_of_their_port() {
        let extra = "[[static]]\nproto = \"udp\"\ninside = \"10.0.0.7:5060\"\noutside = \"198.51.100.1:40000\"\n";
        let v = validated(extra);
        let s = Nat44Shards::new(2, &v.nat.outside_prefixes, &v.alloc, &v.statics).unwrap();
        let k = s.static_owner(&v.statics[0]);
        let (lo, hi) = s.ports_of(k).unwrap();
        assert!((lo..=hi).contains(&40000));
        assert_eq!(
            s.route(Direction::Outbound, &udp((X, 5060), (Y, 53))).owner,
            Some(k)
        );
        assert_eq!(
            s.route(Direction::Inbound, &udp((Y, 53), (P, 40000))).owner,
            Some(k)
        );
    }

    #[test]
    fn a_range_too_small_to_split_is_refused() {
        let v = validated("ports = \"1024-1025\"\n");
        let e = Nat44Shards::check(4, &v.alloc).unwrap_err();
        assert!(e.contains("allocation.ports"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whatever the bytes, routing never panics and names an existing worker; mutated
        /// real packets too.
        #[test]
        fn route_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            flip in proptest::prelude::any::<(usize, u8)>(),
            mode in 0usize..3,
        ) {
            let extra = ["", "mode = \"port-block\"\nblock_size = 128\n",
                "mode = \"deterministic\"\nports_per_subscriber = 3\n"][mode];
            let s = shards(3, extra);
            let mut real = udp((Y, 53), (P, 2000 + bytes.len() as u16));
            let i = flip.0 % real.len();
            real[i] ^= flip.1;
            for pkt in [&bytes[..], &real[..]] {
                for dir in [Direction::Inbound, Direction::Outbound] {
                    if let Some(o) = s.route(dir, pkt).owner {
                        proptest::prop_assert!(o < 3);
                    }
                }
            }
        }
    }
}
