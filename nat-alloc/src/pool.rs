//! The outside address pool, and the paired assignment of one pool address per subscriber.
//!
//! A pool is a list of disjoint IPv4 ranges, contiguous or not, of any size ([RFC 6888] REQ-3).
//! Addresses are numbered densely (`0..len`) across the ranges so that per-address state is an
//! array. "Paired" pooling ([RFC 4787 § 4.1] REQ-2, [RFC 6888] REQ-2, draft-nishitani-cgn REQ-1)
//! gives each subscriber one address for TCP, UDP and ICMP alike; the choice is the less loaded
//! of two addresses named by a keyed hash of the subscriber ("power of two choices"), and it
//! stays while the subscriber holds any mapping, session or block.
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
//! [RFC 4787 § 4.1]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1

use core::net::Ipv4Addr;

use crate::error::ConfigError;

/// A range of IPv4 addresses, `first..=last` ([RFC 6888] REQ-3: pools need not be prefixes).
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Range {
    first: u32,
    last: u32,
}

impl Ipv4Range {
    /// The addresses `first..=last`; fails when `first > last`.
    pub const fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, ConfigError> {
        let (first, last) = (first.to_bits(), last.to_bits());
        if first > last {
            return Err(ConfigError::OutOfRange {
                field: "pool.range",
            });
        }
        Ok(Ipv4Range { first, last })
    }

    /// The addresses of the prefix `addr/len` (host bits of `addr` are ignored).
    pub const fn prefix(addr: Ipv4Addr, len: u8) -> Result<Self, ConfigError> {
        if len > 32 {
            return Err(ConfigError::OutOfRange {
                field: "pool.prefix_len",
            });
        }
        let host = if len == 0 { u32::MAX } else { u32::MAX >> len };
        let first = addr.to_bits() & !host;
        Ok(Ipv4Range {
            first,
            last: first | host,
        })
    }

    /// A range of one address.
    pub const fn single(addr: Ipv4Addr) -> Self {
        Ipv4Range {
            first: addr.to_bits(),
            last: addr.to_bits(),
        }
    }

    /// The first address.
    pub const fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.first)
    }

    /// The last address.
    pub const fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from_bits(self.last)
    }

    /// Number of addresses.
    pub const fn size(&self) -> u64 {
        (self.last - self.first) as u64 + 1
    }

    /// Whether `addr` is in the range.
    pub const fn contains(&self, addr: Ipv4Addr) -> bool {
        let a = addr.to_bits();
        a >= self.first && a <= self.last
    }
}

/// The outside addresses, numbered densely across disjoint ranges ([RFC 6888] REQ-3).
///
/// Looking an address up walks the ranges: operators configure a handful, and the index it
/// returns is what per-address arrays use.
///
/// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressPool<'a> {
    ranges: &'a [Ipv4Range],
    len: u32,
}

impl<'a> AddressPool<'a> {
    /// A pool of `ranges`; fails when the list is empty, the ranges overlap, or the pool has
    /// 2^32 - 1 addresses or more.
    pub fn new(ranges: &'a [Ipv4Range]) -> Result<Self, ConfigError> {
        if ranges.is_empty() {
            return Err(ConfigError::Empty { field: "pool" });
        }
        let mut total: u64 = 0;
        for (i, a) in ranges.iter().enumerate() {
            total += a.size();
            for b in &ranges[i + 1..] {
                if a.first <= b.last && b.first <= a.last {
                    return Err(ConfigError::Overlap { field: "pool" });
                }
            }
        }
        let len = u32::try_from(total)
            .ok()
            .filter(|&n| n < u32::MAX)
            .ok_or(ConfigError::OutOfRange { field: "pool" })?;
        Ok(AddressPool { ranges, len })
    }

    /// Number of addresses in the pool.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the pool is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address with dense index `index`.
    pub fn address(&self, index: u32) -> Option<Ipv4Addr> {
        let mut rest = u64::from(index);
        for r in self.ranges {
            if rest < r.size() {
                return Some(Ipv4Addr::from_bits(r.first + rest as u32));
            }
            rest -= r.size();
        }
        None
    }

    /// The dense index of `addr`, if it is in the pool.
    pub fn index_of(&self, addr: Ipv4Addr) -> Option<u32> {
        let a = addr.to_bits();
        let mut base: u64 = 0;
        for r in self.ranges {
            if r.contains(addr) {
                return u32::try_from(base + u64::from(a - r.first)).ok();
            }
            base += r.size();
        }
        None
    }

    /// Paired assignment: of the two addresses named by `hash`, the one with the lower load;
    /// `load` returns `None` for an address that cannot take one more subscriber. When both are
    /// full, the next [`PROBE_LIMIT`] addresses are tried in order.
    pub(crate) fn pick(&self, hash: u64, mut load: impl FnMut(u32) -> Option<u64>) -> Option<u32> {
        let n = u64::from(self.len);
        let a = ((u128::from(hash as u32) * u128::from(n)) >> 32) as u32;
        let b = ((u128::from((hash >> 32) as u32) * u128::from(n)) >> 32) as u32;
        match (load(a), load(b)) {
            (Some(la), Some(lb)) => return Some(if lb < la { b } else { a }),
            (Some(_), None) => return Some(a),
            (None, Some(_)) => return Some(b),
            (None, None) => {}
        }
        let mut i = a;
        for _ in 0..PROBE_LIMIT.min(self.len) {
            i = if i + 1 >= self.len { 0 } else { i + 1 };
            if load(i).is_some() {
                return Some(i);
            }
        }
        None
    }
}

/// How many addresses past its two hashed choices a new subscriber's paired assignment
/// ([RFC 4787] REQ-2) probes before reporting the pool exhausted: a bound on the cost of a
/// subscriber's first mapping.
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.1
pub const PROBE_LIMIT: u32 = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_contiguous_pool_numbering() {
        let ranges = [
            Ipv4Range::new(
                Ipv4Addr::new(198, 51, 100, 1),
                Ipv4Addr::new(198, 51, 100, 10),
            )
            .unwrap(),
            Ipv4Range::single(Ipv4Addr::new(203, 0, 113, 5)),
        ];
        let pool = AddressPool::new(&ranges).unwrap();
        assert_eq!(pool.len(), 11);
        assert_eq!(pool.address(10), Some(Ipv4Addr::new(203, 0, 113, 5)));
        assert_eq!(pool.address(11), None);
        for i in 0..11 {
            assert_eq!(pool.index_of(pool.address(i).unwrap()), Some(i));
        }
        assert_eq!(pool.index_of(Ipv4Addr::new(198, 51, 100, 11)), None);
    }

    #[test]
    fn bad_pools_name_the_field() {
        assert_eq!(
            AddressPool::new(&[]).unwrap_err(),
            ConfigError::Empty { field: "pool" }
        );
        let p = Ipv4Range::prefix(Ipv4Addr::new(10, 0, 0, 0), 24).unwrap();
        let q = Ipv4Range::single(Ipv4Addr::new(10, 0, 0, 7));
        assert_eq!(
            AddressPool::new(&[p, q]).unwrap_err().field(),
            "pool",
            "overlap"
        );
        assert!(AddressPool::new(&[Ipv4Range::prefix(Ipv4Addr::UNSPECIFIED, 0).unwrap()]).is_err());
        assert!(Ipv4Range::prefix(Ipv4Addr::UNSPECIFIED, 33).is_err());
    }
}
