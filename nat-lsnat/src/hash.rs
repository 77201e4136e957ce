//! A small seeded hash for stateless steering: source hashing and Maglev.
//!
//! The finaliser is SplitMix64's (Stafford's "Mix13"): a multiply-xorshift with full avalanche,
//! enough for spreading flows over servers. It is not keyed against an adversary who can observe
//! choices; the seed comes from configuration so that a primary and its backup agree
//! (draft-srisuresh-lsnat § 5, RFC 7269 § 4.2).

use nat_core::flow::{FlowKey, IpAddress, L4Proto};

/// The SplitMix64 finaliser: a bijection of `u64` with full avalanche (RFC 7269 § 4.2 steering).
#[inline]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Golden-ratio increment of SplitMix64, used to separate seeds.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// An address as two words, most significant first.
#[inline]
fn addr_words<A: IpAddress>(addr: &A) -> (u64, u64) {
    let b = addr.bytes();
    let mut hi = [0u8; 8];
    let mut lo = [0u8; 8];
    hi.copy_from_slice(&b[..8]);
    lo.copy_from_slice(&b[8..]);
    (u64::from_be_bytes(hi), u64::from_be_bytes(lo))
}

/// Hash of an address under `seed`: the source hash of RFC 7269 § 4.2.
#[inline]
pub fn hash_addr<A: IpAddress>(seed: u64, addr: &A) -> u64 {
    let (hi, lo) = addr_words(addr);
    mix64(mix64(seed.wrapping_add(GAMMA) ^ hi) ^ lo)
}

/// Hash of a server's stable name (address and optional port), independent of its slot, so that
/// Maglev permutations survive pool changes (draft-srisuresh-lsnat § 5, Maglev § 3.4).
pub fn hash_server_name<A: IpAddress>(addr: &A, port: Option<u16>) -> u64 {
    let p = port.map_or(0x1_0000, u64::from);
    mix64(hash_addr(0x5EED_0F5E_47E4_0000, addr) ^ p)
}

/// Hash of a whole flow key (5-tuple) under `seed`, for per-flow consistent hashing
/// (draft-srisuresh-lsnat § 2.2: a session is identified by its tuple).
#[inline]
pub fn hash_flow<A: IpAddress>(seed: u64, key: &FlowKey<A>) -> u64 {
    let (sh, sl) = addr_words(&key.src.addr);
    let (dh, dl) = addr_words(&key.dst.addr);
    let proto: u64 = match key.proto {
        L4Proto::Tcp => 6,
        L4Proto::Udp => 17,
        L4Proto::Icmp => 1,
    };
    let ports = (u64::from(key.src.port) << 32) | (u64::from(key.dst.port) << 16) | proto;
    let mut h = mix64(seed.wrapping_add(GAMMA) ^ sh);
    h = mix64(h ^ sl);
    h = mix64(h ^ dh);
    h = mix64(h ^ dl);
    mix64(h ^ ports)
}

/// Map a 64-bit hash onto `0..n` without division (Lemire's multiply-shift); `n = 0` gives 0.
#[inline]
pub(crate) fn reduce(hash: u64, n: usize) -> usize {
    let n = n as u64;
    // The product's high word is < n, so it fits in usize whenever n does.
    ((u128::from(hash) * u128::from(n)) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use nat_core::flow::Endpoint;

    #[test]
    fn mix64_matches_splitmix64_reference() {
        // First output of SplitMix64 seeded with 0 is mix64(GAMMA).
        assert_eq!(mix64(GAMMA), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn seed_changes_address_hash() {
        let a = Ipv4Addr::new(192, 0, 2, 1);
        assert_ne!(hash_addr(1, &a), hash_addr(2, &a));
        assert_eq!(hash_addr(1, &a), hash_addr(1, &a));
    }

    #[test]
    fn flow_hash_depends_on_every_field() {
        let k = FlowKey::new(
            L4Proto::Tcp,
            Endpoint::new(Ipv4Addr::new(198, 51, 100, 1), 40000),
            Endpoint::new(Ipv4Addr::new(203, 0, 113, 9), 80),
        );
        let h = hash_flow(7, &k);
        let mut k2 = k;
        k2.src.port += 1;
        assert_ne!(h, hash_flow(7, &k2));
        let mut k3 = k;
        k3.dst.port += 1;
        assert_ne!(h, hash_flow(7, &k3));
        let mut k4 = k;
        k4.proto = L4Proto::Udp;
        assert_ne!(h, hash_flow(7, &k4));
        let mut k5 = k;
        k5.src.addr = Ipv4Addr::new(198, 51, 100, 2);
        assert_ne!(h, hash_flow(7, &k5));
    }

    #[test]
    fn server_name_hash_distinguishes_ports() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert_ne!(hash_server_name(&a, None), hash_server_name(&a, Some(80)));
        assert_ne!(
            hash_server_name(&a, Some(80)),
            hash_server_name(&a, Some(81))
        );
    }

    #[test]
    fn reduce_stays_in_range() {
        for n in [1usize, 2, 3, 100, 65537] {
            for h in [0u64, 1, u64::MAX, u64::MAX / 3, 0x8000_0000_0000_0000] {
                assert!(reduce(h, n) < n);
            }
        }
        assert_eq!(reduce(u64::MAX, 0), 0);
    }
}
