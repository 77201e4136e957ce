//! The simplest policy: one outside address, the inside port when free, else the next free one.
//!
//! For tests of the translators and for small routers: no subscribers, no quotas, no hold-down,
//! no log. It still never hands one outside endpoint to two mappings ([RFC 4787] REQ-3) and
//! keeps well-known and dynamic ranges apart (REQ-3a). Its storage is three 65,536-port bitmaps
//! inside the value (about 25 KiB): no heap, no borrowed slice.
//!
//! [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.1

use core::net::Ipv4Addr;

use nat_core::allocator::{AllocError, AllocRequest, PortAllocator};
use nat_core::flow::{Endpoint, IpAddress, L4Proto};
use nat_core::time::Instant;

use crate::bitmap::{FreeSet, Parity, PortBitmap};
use crate::error::ConfigError;
use crate::port::PortRange;

/// One address, port preservation, else the next free port of the same range
/// ([RFC 4787 § 4.2.1]).
///
/// [RFC 4787 § 4.2.1]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.1
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimpleAllocator {
    addr: Ipv4Addr,
    ports: PortRange,
    maps: [PortBitmap; 3],
}

impl SimpleAllocator {
    /// An allocator of `ports` on `addr`.
    pub fn new(addr: Ipv4Addr, ports: PortRange) -> Result<Self, ConfigError> {
        ports.validate("ports")?;
        Ok(SimpleAllocator {
            addr,
            ports,
            maps: [PortBitmap::EMPTY, PortBitmap::EMPTY, PortBitmap::EMPTY],
        })
    }

    /// The outside address.
    pub fn address(&self) -> Ipv4Addr {
        self.addr
    }

    /// Ports of `proto` in use.
    pub fn in_use(&self, proto: L4Proto) -> u32 {
        self.maps[proto.index()].used()
    }
}

impl<I: IpAddress> PortAllocator<I, Ipv4Addr> for SimpleAllocator {
    fn allocate(
        &mut self,
        _now: Instant,
        req: &AllocRequest<I, Ipv4Addr>,
    ) -> Result<Endpoint<Ipv4Addr>, AllocError> {
        let (first, last) = (u32::from(self.ports.first), u32::from(self.ports.last));
        let want = u32::from(req.inside.port);
        let (lo, hi) = if want < 1024 && first < 1024 {
            (first, last.min(1023))
        } else if want >= 1024 && last >= 1024 {
            (first.max(1024), last)
        } else {
            (first, last)
        };
        let map = &mut self.maps[req.proto.index()];
        let port = map
            .find_wrapping(want, lo, hi, Parity::Any)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or(AllocError::PoolExhausted)?;
        map.set(port);
        Ok(Endpoint::new(self.addr, port))
    }

    fn reserve(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        _inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) -> Result<(), AllocError> {
        if outside.addr != self.addr
            || !self.ports.contains(outside.port)
            || !self.maps[proto.index()].set(outside.port)
        {
            return Err(AllocError::Unavailable);
        }
        Ok(())
    }

    fn release(
        &mut self,
        _now: Instant,
        proto: L4Proto,
        _inside: Endpoint<I>,
        outside: Endpoint<Ipv4Addr>,
    ) {
        if outside.addr == self.addr {
            self.maps[proto.index()].clear(outside.port);
        }
    }
}
