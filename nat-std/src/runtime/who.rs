//! Who held an outside address and port: the question of an abuse report, answered from the
//! configuration alone ([RFC 6888] REQ-12..14: what the log must let an operator find).
//!
//! - A static mapping: its inside endpoint, at any time.
//! - Deterministic mode: the subscriber, at any time, by the reverse function of [RFC 7422]
//!   (§ 2: no per-session log is needed).
//! - Port-block mode: the block the port belongs to, as its `PORT-BLOCK-ALLOC` and
//!   `PORT-BLOCK-FREE` records name it ([RFC 7269 § 5.1]); the log says who held that block
//!   when. For scattered blocks this needs the configured `allocation.seed`, which is why
//!   validation asks for one.
//! - Per-port mode: every port has its own records; nothing to compute.
//!
//! With `tun.queues` > 1 each worker has its own slice of the ports and its own blocks in it
//! ([`Nat44Shards`]): the port's slice decides which worker's blocks to compute.
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-4
//! [RFC 7422]: https://www.rfc-editor.org/rfc/rfc7422#section-2
//! [RFC 7269 § 5.1]: https://www.rfc-editor.org/rfc/rfc7269#section-5.1

use super::{Nat44Shards, shard_policy};
use crate::config::{AllocMode, Validated};
use crate::log::proto_name;
use nat_alloc::{BlockAllocator, BlockLayout, BlockSlot, BlockStorage, SubscriberSlot};
use nat_core::flow::{Endpoint, L4Proto};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

/// Whom an outside address and port belongs to, as far as the configuration tells.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Owner {
    /// A static mapping, at any time.
    Static {
        /// Its protocol.
        proto: L4Proto,
        /// Its inside endpoint.
        inside: Endpoint<Ipv4Addr>,
    },
    /// A subscriber of deterministic mode, at any time (RFC 7422).
    Subscriber(Ipv4Addr),
    /// A port block: its log records say who held it when (RFC 7269 § 5.1).
    Block {
        /// The outside address.
        outside: Ipv4Addr,
        /// The first and last ports of the block as its records give them (for scattered
        /// blocks, logical ports: the keyed permutation maps them to real ones).
        ports: (u16, u16),
        /// Contiguous or scattered.
        layout: BlockLayout,
    },
    /// Per-port mode: the port's own log records say.
    PortLog,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Static { proto, inside } => write!(
                f,
                "static mapping to {} {}:{} (at any time)",
                proto_name(*proto),
                inside.addr,
                inside.port
            ),
            Owner::Subscriber(s) => {
                write!(f, "subscriber {s} (deterministic, RFC 7422), at any time")
            }
            Owner::Block {
                outside,
                ports: (first, last),
                layout,
            } => write!(
                f,
                "in the {} block logged as {outside}:{first}-{last}: search the log for \
                 PORT-BLOCK-ALLOC and PORT-BLOCK-FREE records with tsrc=\"{outside}\" \
                 tsport=\"{first}\"",
                match layout {
                    BlockLayout::Contiguous => "contiguous",
                    BlockLayout::Scattered => "scattered",
                }
            ),
            Owner::PortLog => {
                f.write_str("per-port mode logs each port: search the log for its tsrc and tsport")
            }
        }
    }
}

/// Whom `outside` belongs to; an error when the configuration cannot hand it out.
pub fn who(cfg: &Validated, outside: SocketAddrV4) -> Result<Owner, String> {
    let (addr, port) = (*outside.ip(), outside.port());
    if let Some(s) = cfg
        .statics
        .iter()
        .find(|s| s.outside == Endpoint::new(addr, port))
    {
        return Ok(Owner::Static {
            proto: s.proto,
            inside: s.inside,
        });
    }
    if !cfg.nat.outside_prefixes.iter().any(|p| p.contains(addr)) {
        return Err(format!("{addr} is not in nat.pool"));
    }
    let p = &cfg.alloc;
    if !(p.ports.0..=p.ports.1).contains(&port) {
        return Err(format!(
            "port {port} is outside allocation.ports {}-{}",
            p.ports.0, p.ports.1
        ));
    }
    match p.mode {
        AllocMode::PerPort => Ok(Owner::PortLog),
        AllocMode::Deterministic => {
            let ranges = p.ranges();
            let map = nat_alloc::DeterministicMap::new(&p.deterministic_config(&ranges))
                .map_err(|e| format!("allocation: {e}"))?;
            map.reverse(Endpoint::new(addr, port))
                .map(Owner::Subscriber)
                .ok_or_else(|| "in no subscriber's range".to_string())
        }
        AllocMode::PortBlock => block_of(cfg, addr, port),
    }
}

/// The block that holds `port` of `addr` in port-block mode, as its log records name it.
fn block_of(cfg: &Validated, addr: Ipv4Addr, port: u16) -> Result<Owner, String> {
    let n = cfg.runtime.tun_queues.max(1);
    let shards = if n > 1 {
        Some(Nat44Shards::new(
            n,
            &cfg.nat.outside_prefixes,
            &cfg.alloc,
            &cfg.statics,
        )?)
    } else {
        None
    };
    let k = match &shards {
        Some(s) => (0..n)
            .find(|&k| {
                s.ports_of(k)
                    .is_some_and(|(lo, hi)| (lo..=hi).contains(&port))
            })
            .ok_or_else(|| format!("port {port} is in no worker's slice of the ports"))?,
        None => 0,
    };
    let policy = shard_policy(cfg, shards.as_ref(), k);
    let ranges = policy.ranges();
    let bcfg = policy.block_config(&ranges);
    // The smallest storage the allocator accepts: only its port arithmetic is used.
    let err = |e: nat_alloc::ConfigError| format!("allocation: {e}");
    let mut subs = [SubscriberSlot::<Ipv4Addr>::EMPTY];
    let mut blocks = [BlockSlot::EMPTY];
    let mut pool_bits = vec![0; bcfg.pool_words().map_err(err)?];
    let mut block_bits = vec![0; bcfg.block_words(1)];
    let storage = BlockStorage {
        subscribers: &mut subs,
        pool_bits: &mut pool_bits,
        blocks: &mut blocks,
        block_bits: &mut block_bits,
        exempt: &mut [],
        events: &mut [],
    };
    let alloc = BlockAllocator::new(&bcfg, storage).map_err(err)?;
    let first = alloc
        .block_of_port(port)
        .ok_or_else(|| format!("port {port} is past the last whole block"))?;
    let last = first.saturating_add(policy.block_size - 1);
    Ok(Owner::Block {
        outside: addr,
        ports: (first, last),
        layout: policy.block_layout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{AllocMemory, AnyAllocator};
    use nat_alloc::AllocEvent;
    use nat_core::allocator::{AllocRequest, PortAllocator};
    use nat_core::time::Instant;

    fn validated(queues: usize, extra: &str) -> Validated {
        crate::runtime::tests::validated_with(queues, "10.0.0.0/24", 4000, extra)
    }

    fn request(inside: Ipv4Addr, port: u16) -> AllocRequest<Ipv4Addr, Ipv4Addr> {
        AllocRequest {
            proto: L4Proto::Udp,
            inside: Endpoint::new(inside, port),
            remote: Endpoint::new(Ipv4Addr::new(203, 0, 113, 1), 53),
        }
    }

    /// For every port the workers' block allocators hand out, `who` names a block that a
    /// `BlockAllocated` record of that address logged, and whose ports include the port: the
    /// log answers the abuse report (RFC 6888 REQ-14, RFC 7269 § 5.1).
    #[test]
    fn rfc7269_who_names_the_logged_block_of_every_port() {
        for (queues, layout) in [
            (1, "contiguous"),
            (1, "scattered"),
            (2, "scattered"),
            (3, "contiguous"),
        ] {
            let cfg = validated(
                queues,
                &format!(
                    "mode = \"port-block\"\nblock_size = 63\nmax_blocks = 4\n\
                     port_preservation = false\nblock_layout = \"{layout}\"\n"
                ),
            );
            let shards = (queues > 1).then(|| {
                Nat44Shards::new(queues, &cfg.nat.outside_prefixes, &cfg.alloc, &cfg.statics)
                    .unwrap()
            });
            let mut checked = 0;
            for k in 0..queues {
                let policy = shard_policy(&cfg, shards.as_ref(), k);
                let mut mem = AllocMemory::new(&policy);
                let Ok(AnyAllocator::Block(mut alloc)) = mem.build(&policy) else {
                    panic!("{layout}: not a block allocator");
                };
                let mut handed = Vec::new();
                for i in 2..60u32 {
                    let inside = Ipv4Addr::from(0x0a00_0000 + i);
                    if shards
                        .as_ref()
                        .is_some_and(|s| s.subscriber_owner(inside) != k)
                    {
                        continue;
                    }
                    for port in 5000..5100 {
                        if let Ok(out) = alloc.allocate(Instant::ZERO, &request(inside, port)) {
                            handed.push(out);
                        }
                    }
                }
                let mut logged = Vec::new();
                while let Some(e) = alloc.events().pop() {
                    if let AllocEvent::BlockAllocated {
                        outside,
                        first_port,
                        ..
                    } = e
                    {
                        logged.push((outside, first_port));
                    }
                }
                for out in handed {
                    let owner = who(&cfg, SocketAddrV4::new(out.addr, out.port)).unwrap();
                    let Owner::Block {
                        outside,
                        ports: (first, _),
                        ..
                    } = owner
                    else {
                        panic!("{layout}: {out:?}: {owner}");
                    };
                    assert!(
                        logged.contains(&(outside, first)),
                        "{layout}, {queues} queues: {out:?} in block {first}, never logged"
                    );
                    assert!(
                        alloc.block_ports(first).any(|p| p == out.port),
                        "{layout}, {queues} queues: {out:?} is not a port of block {first}"
                    );
                    checked += 1;
                }
            }
            assert!(checked > 1000, "{layout}: only {checked} ports");
        }
    }

    /// Deterministic mode: `who` gives back the subscriber the allocator served (RFC 7422 § 2).
    #[test]
    fn rfc7422_who_finds_the_subscriber_of_every_port() {
        let cfg = validated(1, "mode = \"deterministic\"\nports_per_subscriber = 200\n");
        let mut mem = AllocMemory::new(&cfg.alloc);
        let mut alloc = mem.build(&cfg.alloc).unwrap();
        for i in 2..250u32 {
            let inside = Ipv4Addr::from(0x0a00_0000 + i);
            for port in [5000, 6000, 7000] {
                let out = alloc
                    .allocate(Instant::ZERO, &request(inside, port))
                    .unwrap();
                assert_eq!(
                    who(&cfg, SocketAddrV4::new(out.addr, out.port)),
                    Ok(Owner::Subscriber(inside))
                );
            }
        }
    }

    #[test]
    fn who_names_statics_and_refuses_what_the_configuration_cannot_hand_out() {
        let cfg = validated(
            1,
            "mode = \"per-port\"\n[[static]]\nproto = \"tcp\"\ninside = \"10.0.0.5:80\"\n\
             outside = \"198.51.100.1:8080\"\n",
        );
        let at = |a: [u8; 4], p: u16| who(&cfg, SocketAddrV4::new(Ipv4Addr::from(a), p));
        assert_eq!(
            at([198, 51, 100, 1], 8080),
            Ok(Owner::Static {
                proto: L4Proto::Tcp,
                inside: Endpoint::new(Ipv4Addr::new(10, 0, 0, 5), 80)
            })
        );
        assert_eq!(at([198, 51, 100, 1], 40000), Ok(Owner::PortLog));
        assert!(
            at([198, 51, 100, 7], 40000)
                .unwrap_err()
                .contains("nat.pool")
        );
        assert!(
            at([198, 51, 100, 1], 80)
                .unwrap_err()
                .contains("allocation.ports")
        );
    }
}
