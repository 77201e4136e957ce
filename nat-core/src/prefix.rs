//! IP prefixes without allocation, for configuration of subscriber ranges, pools and exemptions.

use crate::flow::IpAddress;

/// An address prefix: the first `len` bits of `addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix<A> {
    addr: A,
    len: u8,
}

/// Why a prefix is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixError {
    /// Longer than the address.
    TooLong,
    /// Bits set after the prefix length.
    HostBitsSet,
}

impl<A: IpAddress> Prefix<A> {
    /// A prefix; the address must have no bits set past `len`.
    pub fn new(addr: A, len: u8) -> Result<Self, PrefixError> {
        if usize::from(len) > A::LEN * 8 {
            return Err(PrefixError::TooLong);
        }
        let p = Prefix { addr, len };
        if addr.masked(len) != addr {
            return Err(PrefixError::HostBitsSet);
        }
        Ok(p)
    }

    /// The network address.
    pub const fn addr(&self) -> A {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the zero-length prefix (matches everything).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `a` lies in the prefix.
    pub fn contains(&self, a: A) -> bool {
        a.masked(self.len) == self.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn contains_and_rejects_host_bits() {
        let p = Prefix::new(Ipv4Addr::new(100, 64, 0, 0), 10).unwrap();
        assert!(p.contains(Ipv4Addr::new(100, 127, 255, 255)));
        assert!(!p.contains(Ipv4Addr::new(100, 128, 0, 0)));
        assert_eq!(
            Prefix::new(Ipv4Addr::new(10, 0, 0, 1), 8),
            Err(PrefixError::HostBitsSet)
        );
        assert_eq!(
            Prefix::new(Ipv4Addr::new(10, 0, 0, 0), 33),
            Err(PrefixError::TooLong)
        );
        assert!(
            Prefix::new(Ipv4Addr::UNSPECIFIED, 0)
                .unwrap()
                .contains(Ipv4Addr::BROADCAST)
        );
    }
}
