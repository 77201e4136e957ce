//! The address mapper NAT64 lends to the SIIT header translation: for a packet, the tuple its
//! session gave; for an ICMP error, the session of the packet it quotes, looked up without
//! creating or refreshing anything ([RFC 6146 § 3.5.3], § 3.5.4).
//!
//! [RFC 6146 § 3.5.3]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5.3

use super::Nat64;
use crate::allocator::PortAllocator;
use crate::flow::{Endpoint, FlowKey, L4Proto};
use crate::session::{SessionEntry, SessionStore};
use crate::siit::{ErrorMapping, Mapped4, Mapper4to6, Mapper6to4, Refusal, Tuple};
use crate::verdict::DropReason;
use core::net::{Ipv4Addr, Ipv6Addr};

/// What the session table already decided for the packet being translated.
pub(super) enum Precomputed {
    /// The IPv4 key of an outbound packet.
    V4(FlowKey<Ipv4Addr>),
    /// The IPv6 key of an inbound packet.
    V6(FlowKey<Ipv6Addr>),
    /// Nothing: an ICMP error, mapped through its quote.
    None,
}

pub(super) struct FlowMapper<'a, S, A, const E: usize> {
    pub(super) pre: Precomputed,
    pub(super) nat: &'a Nat64<S, A, E>,
}

fn tuple<T: Copy>(number: u8, k: &FlowKey<T>) -> Tuple<T> {
    Tuple {
        proto: number,
        src: k.src.addr,
        dst: k.dst.addr,
        src_port: k.src.port,
        dst_port: k.dst.port,
    }
}

fn key<T: Copy>(t: &Tuple<T>) -> Option<FlowKey<T>> {
    let proto = match t.proto {
        6 => L4Proto::Tcp,
        17 => L4Proto::Udp,
        1 | 58 => L4Proto::Icmp,
        _ => return None,
    };
    Some(FlowKey::new(
        proto,
        Endpoint::new(t.src, t.src_port),
        Endpoint::new(t.dst, t.dst_port),
    ))
}

impl<S, A, const E: usize> FlowMapper<'_, S, A, E>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    fn by_inside(&self, k: &FlowKey<Ipv6Addr>) -> Option<SessionEntry<Ipv6Addr, Ipv4Addr>> {
        let st = &self.nat.state.store;
        st.find_inside(st.hash_inside(k), k)
            .and_then(|s| st.session(s))
            .copied()
    }

    fn by_outside(&self, k: &FlowKey<Ipv4Addr>) -> Option<SessionEntry<Ipv6Addr, Ipv4Addr>> {
        let st = &self.nat.state.store;
        st.find_outside(st.hash_outside(k), k)
            .and_then(|s| st.session(s))
            .copied()
    }
}

impl<S, A, const E: usize> Mapper6to4 for FlowMapper<'_, S, A, E>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    fn packet_6to4(&self, t: &Tuple<Ipv6Addr>) -> Result<Mapped4, Refusal> {
        match &self.pre {
            Precomputed::V4(k) => {
                let number = if t.proto == 58 { 1 } else { t.proto };
                Ok(Mapped4 {
                    tuple: tuple(number, k),
                    hairpin: false,
                })
            }
            _ => Err(Refusal::silent(DropReason::NoMapping)),
        }
    }

    /// An ICMPv6 error from the inside about a packet the translator delivered: the quote
    /// (Y':y → X:x) belongs to the session whose inside key is its reverse.
    fn error_6to4(
        &self,
        _src: Ipv6Addr,
        dst: Ipv6Addr,
        inner: &Tuple<Ipv6Addr>,
    ) -> Result<ErrorMapping<Ipv4Addr>, DropReason> {
        let quoted = key(inner).ok_or(DropReason::UnkeyableQuote)?;
        let e = self
            .by_inside(&quoted.reversed())
            .ok_or(DropReason::NoMapping)?;
        let number = if inner.proto == 58 { 1 } else { inner.proto };
        let new_inner = FlowKey::new(quoted.proto, e.remote_out, e.outside);
        let dst4 = self.nat.extract(dst).unwrap_or(e.remote_out.addr);
        Ok(ErrorMapping {
            src: e.outside.addr,
            dst: dst4,
            inner: tuple(number, &new_inner),
            hairpin: false,
        })
    }
}

impl<S, A, const E: usize> Mapper4to6 for FlowMapper<'_, S, A, E>
where
    S: SessionStore<Ipv6Addr, Ipv4Addr>,
    A: PortAllocator<Ipv6Addr, Ipv4Addr>,
{
    fn packet_4to6(&self, t: &Tuple<Ipv4Addr>, _hairpin: bool) -> Result<Tuple<Ipv6Addr>, Refusal> {
        match &self.pre {
            Precomputed::V6(k) => {
                let number = if t.proto == 1 { 58 } else { t.proto };
                Ok(tuple(number, k))
            }
            _ => Err(Refusal::silent(DropReason::NoMapping)),
        }
    }

    /// An ICMPv4 error from the outside about a packet the translator sent: the quote
    /// (T:t → Z:z) belongs to the session whose outside key is its reverse. The error's source
    /// appears inside under pool6.
    fn error_4to6(
        &self,
        src: Ipv4Addr,
        _dst: Ipv4Addr,
        inner: &Tuple<Ipv4Addr>,
        _hairpin: bool,
    ) -> Result<ErrorMapping<Ipv6Addr>, DropReason> {
        let quoted = key(inner).ok_or(DropReason::UnkeyableQuote)?;
        let e = self
            .by_outside(&quoted.reversed())
            .ok_or(DropReason::NoMapping)?;
        let number = if inner.proto == 1 { 58 } else { inner.proto };
        let new_inner = FlowKey::new(quoted.proto, e.inside, e.remote_in);
        Ok(ErrorMapping {
            src: self.nat.config.pool6.embed(src),
            dst: e.inside.addr,
            inner: tuple(number, &new_inner),
            hairpin: false,
        })
    }
}
