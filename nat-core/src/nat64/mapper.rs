//! The address mapper NAT64 lends to the SIIT header translation ([RFC 6146 § 3.6]): for a
//! packet, the outgoing tuple its session gave (decided beforehand, with the tables
//! writable); for an ICMP error, the session of the packet it quotes, looked up without
//! creating or refreshing anything ([RFC 6146 § 3.5]).
//!
//! ICMP query identifiers: a session keeps the identifier as the port of its binding's side
//! (the inside endpoint X':i1 and the outside endpoint T:i2; the remote's port is 0), whatever
//! the direction of the query. SIIT reads a request's identifier from the tuple's source port
//! and a reply's from its destination port, so the tuples handed back carry it in both.
//!
//! [RFC 6146 § 3.6]: https://www.rfc-editor.org/rfc/rfc6146#section-3.6
//! [RFC 6146 § 3.5]: https://www.rfc-editor.org/rfc/rfc6146#section-3.5

use super::{ErrorSource, Nat64Config};
use crate::flow::{Endpoint, FlowKey, IpAddress, L4Proto};
use crate::session::{SessionEntry, SessionStore};
use crate::siit::{ErrorMapping, Mapped4, Mapper4to6, Mapper6to4, Refusal, Tuple};
use crate::verdict::DropReason;
use core::net::{Ipv4Addr, Ipv6Addr};

/// What the session table already decided for the packet being translated.
#[derive(Clone, Copy, Debug)]
pub(super) enum Precomputed {
    /// An outbound packet: its IPv4 tuple, and for a hairpinned one the IPv6 tuple of its
    /// second pass ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    Out {
        v4: Tuple<Ipv4Addr>,
        back: Option<Tuple<Ipv6Addr>>,
    },
    /// An inbound packet: its IPv6 tuple.
    In(Tuple<Ipv6Addr>),
    /// An ICMP error, mapped through its quote.
    Error,
}

/// Which side of a key holds an ICMP query identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum IdOn {
    Src,
    Dst,
}

/// `key` with an ICMP query identifier moved to `side` (the other port 0); other protocols
/// unchanged.
pub(super) fn id_on<A: Copy>(key: FlowKey<A>, side: IdOn) -> FlowKey<A> {
    if key.proto != L4Proto::Icmp {
        return key;
    }
    let id = key.src.port | key.dst.port;
    let (s, d) = match side {
        IdOn::Src => (id, 0),
        IdOn::Dst => (0, id),
    };
    FlowKey::new(
        key.proto,
        Endpoint::new(key.src.addr, s),
        Endpoint::new(key.dst.addr, d),
    )
}

/// The tuple of `k` for SIIT, an ICMP identifier in both ports.
pub(super) fn tuple<A: IpAddress>(k: &FlowKey<A>) -> Tuple<A> {
    let (sp, dp) = match k.proto {
        L4Proto::Icmp => {
            let id = k.src.port | k.dst.port;
            (id, id)
        }
        _ => (k.src.port, k.dst.port),
    };
    Tuple {
        proto: k.proto.number::<A>(),
        src: k.src.addr,
        dst: k.dst.addr,
        src_port: sp,
        dst_port: dp,
    }
}

/// The key of a tuple SIIT read from a quote.
fn key<A: Copy>(t: &Tuple<A>) -> Option<FlowKey<A>> {
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

pub(super) struct FlowMapper<'a, S> {
    pub(super) pre: Precomputed,
    pub(super) store: &'a S,
    pub(super) config: &'a Nat64Config,
}

impl<S: SessionStore<Ipv6Addr, Ipv4Addr>> FlowMapper<'_, S> {
    fn by_inside(&self, k: &FlowKey<Ipv6Addr>) -> Option<SessionEntry<Ipv6Addr, Ipv4Addr>> {
        let st = self.store;
        st.find_inside(st.hash_inside(k), k)
            .and_then(|s| st.session(s))
    }

    fn by_outside(&self, k: &FlowKey<Ipv4Addr>) -> Option<SessionEntry<Ipv6Addr, Ipv4Addr>> {
        let st = self.store;
        st.find_outside(st.hash_outside(k), k)
            .and_then(|s| st.session(s))
    }
}

impl<S: SessionStore<Ipv6Addr, Ipv4Addr>> Mapper6to4 for FlowMapper<'_, S> {
    fn packet_6to4(&self, _t: &Tuple<Ipv6Addr>) -> Result<Mapped4, Refusal> {
        match self.pre {
            Precomputed::Out { v4, back } => Ok(Mapped4 {
                tuple: v4,
                hairpin: back.is_some(),
            }),
            _ => Err(Refusal::silent(DropReason::NoMapping)),
        }
    }

    /// An ICMPv6 error from the inside about a packet the translator delivered: the quote
    /// (Y':y → X':x) belongs to the session whose inside key is its reverse ([RFC 6146 § 3.4]);
    /// an error to an address of pool4 goes back in ([RFC 6146 § 3.8]).
    ///
    /// [RFC 6146 § 3.4]: https://www.rfc-editor.org/rfc/rfc6146#section-3.4
    /// [RFC 6146 § 3.8]: https://www.rfc-editor.org/rfc/rfc6146#section-3.8
    fn error_6to4(
        &self,
        _src: Ipv6Addr,
        dst: Ipv6Addr,
        inner: &Tuple<Ipv6Addr>,
    ) -> Result<ErrorMapping<Ipv4Addr>, DropReason> {
        let quoted = id_on(key(inner).ok_or(DropReason::UnkeyableQuote)?, IdOn::Dst);
        let e = self
            .by_inside(&quoted.reversed())
            .ok_or(DropReason::NoMapping)?;
        let dst4 = self.config.extract(dst).unwrap_or(e.remote_out.addr);
        let hairpin = self.config.in_pool4(dst4);
        if hairpin && !self.config.hairpinning {
            return Err(DropReason::Policy);
        }
        let inner4 = FlowKey::new(quoted.proto, e.remote_out, e.outside);
        Ok(ErrorMapping {
            src: e.outside.addr,
            dst: dst4,
            inner: tuple(&inner4),
            hairpin,
        })
    }
}

impl<S: SessionStore<Ipv6Addr, Ipv4Addr>> Mapper4to6 for FlowMapper<'_, S> {
    fn packet_4to6(&self, _t: &Tuple<Ipv4Addr>, hairpin: bool) -> Result<Tuple<Ipv6Addr>, Refusal> {
        match self.pre {
            Precomputed::In(t) if !hairpin => Ok(t),
            Precomputed::Out { back: Some(t), .. } if hairpin => Ok(t),
            _ => Err(Refusal::silent(DropReason::NoMapping)),
        }
    }

    /// An ICMPv4 error from the outside about a packet the translator sent: the quote
    /// (T:t → Z:z) belongs to the session whose outside key is its reverse. The error's source
    /// (or the quote's destination, [`ErrorSource`]) appears inside under pool6, or as the
    /// translator itself when [RFC 6052 § 3.1] forbids that.
    ///
    /// [RFC 6052 § 3.1]: https://www.rfc-editor.org/rfc/rfc6052#section-3.1
    fn error_4to6(
        &self,
        src: Ipv4Addr,
        _dst: Ipv4Addr,
        inner: &Tuple<Ipv4Addr>,
        _hairpin: bool,
    ) -> Result<ErrorMapping<Ipv6Addr>, DropReason> {
        let quoted = id_on(key(inner).ok_or(DropReason::UnkeyableQuote)?, IdOn::Src);
        let e = self
            .by_outside(&quoted.reversed())
            .ok_or(DropReason::NoMapping)?;
        let from = match self.config.icmp_error_source {
            ErrorSource::Sender => src,
            ErrorSource::QuotedDestination => inner.dst,
        };
        let src6 = self
            .config
            .embed(from)
            .or(self.config.xlat.own_ipv6)
            .ok_or(DropReason::Untranslatable)?;
        let inner6 = FlowKey::new(quoted.proto, e.inside, e.remote_in);
        Ok(ErrorMapping {
            src: src6,
            dst: e.inside.addr,
            inner: tuple(&inner6),
            hairpin: false,
        })
    }
}
