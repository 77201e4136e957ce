//! Exemptions: destinations whose mappings do not count against the subscriber's quota, or that
//! are not translated at all.
//!
//! draft-nishitani-cgn § 3 REQ-5 and § 7: some applications (DNS is the example) must keep
//! working when a subscriber has used up its ports. Two ways: take those destinations out of
//! the port limit ([`ExemptAction::NoQuota`], done here), or do not translate them at all
//! ("LSN pass-through", [`ExemptAction::PassThrough`]; [RFC 6888] REQ-6), which the translator
//! must do before it asks for a mapping: [`Exemptions::pass_through`] answers it. An allocator
//! asked anyway treats pass-through like `NoQuota`.
//!
//! An exempt mapping is remembered in a small table (`&mut [ExemptSlot]`) so that its release is
//! credited to the right counter; when that table is full, further exempt mappings count against
//! the quota like any other.
//!
//! [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3

use core::net::Ipv4Addr;

use nat_core::flow::{Endpoint, L4Proto};

use crate::error::ConfigError;
use crate::hash::{SecretKey, mix, reduce};

/// What to do for an exempted destination (draft-nishitani-cgn § 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExemptAction {
    /// Translate, but do not count the mapping against the subscriber's port quota.
    NoQuota,
    /// Do not translate ("LSN pass-through", [RFC 6888] REQ-6): for the translator to honour.
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
    PassThrough,
}

/// A destination exempted from quotas or translation (draft-nishitani-cgn REQ-5, § 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exemption {
    /// Destination prefix address (host bits ignored).
    pub addr: Ipv4Addr,
    /// Destination prefix length, 0..=32.
    pub prefix_len: u8,
    /// Destination port, or any.
    pub port: Option<u16>,
    /// Protocol, or any.
    pub proto: Option<L4Proto>,
    /// What to do.
    pub action: ExemptAction,
}

impl Exemption {
    fn matches(&self, proto: L4Proto, remote: &Endpoint<Ipv4Addr>) -> bool {
        let mask = u32::MAX
            .checked_shl(32u32.saturating_sub(u32::from(self.prefix_len)))
            .unwrap_or(0);
        (remote.addr.to_bits() & mask) == (self.addr.to_bits() & mask)
            && self.port.is_none_or(|p| p == remote.port)
            && self.proto.is_none_or(|p| p == proto)
    }
}

/// The configured exemptions, matched in order (first match wins).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exemptions<'a> {
    list: &'a [Exemption],
}

impl<'a> Exemptions<'a> {
    /// The exemptions `list`; fails when a prefix length exceeds 32.
    pub fn new(list: &'a [Exemption]) -> Result<Self, ConfigError> {
        if list.iter().any(|e| e.prefix_len > 32) {
            return Err(ConfigError::OutOfRange {
                field: "exemptions.prefix_len",
            });
        }
        Ok(Exemptions { list })
    }

    /// The action for a flow of `proto` to `remote`, if exempted.
    pub fn classify(&self, proto: L4Proto, remote: &Endpoint<Ipv4Addr>) -> Option<ExemptAction> {
        self.list
            .iter()
            .find(|e| e.matches(proto, remote))
            .map(|e| e.action)
    }

    /// Whether a flow of `proto` to `remote` must not be translated (LSN pass-through,
    /// draft-nishitani-cgn § 7; [RFC 6888] REQ-6).
    ///
    /// [RFC 6888]: https://www.rfc-editor.org/rfc/rfc6888#section-3
    pub fn pass_through(&self, proto: L4Proto, remote: &Endpoint<Ipv4Addr>) -> bool {
        self.classify(proto, remote) == Some(ExemptAction::PassThrough)
    }

    /// Whether the list is empty (the common case, checked first on the fast path).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// One exempt mapping remembered for its release (storage element of the exempt table;
/// draft-nishitani-cgn § 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExemptSlot {
    addr: u32,
    port: u16,
    proto: u8,
    live: bool,
}

impl ExemptSlot {
    /// An unused slot, to fill the storage with.
    pub const EMPTY: ExemptSlot = ExemptSlot {
        addr: 0,
        port: 0,
        proto: 0,
        live: false,
    };
}

/// The set of outside endpoints held by exempt mappings: linear probing, backward-shift
/// deletion, load at most 3/4.
#[derive(Debug)]
pub(crate) struct ExemptTable<'a> {
    slots: &'a mut [ExemptSlot],
    len: usize,
    key: SecretKey,
}

impl<'a> ExemptTable<'a> {
    pub(crate) fn new(slots: &'a mut [ExemptSlot], key: &SecretKey) -> Self {
        slots.fill(ExemptSlot::EMPTY);
        ExemptTable {
            slots,
            len: 0,
            key: key.derive(0xe8e4),
        }
    }

    fn home(&self, addr: u32, proto: L4Proto, port: u16) -> usize {
        let h = mix(
            &self.key,
            u64::from(addr),
            (u64::from(port) << 8) | proto.index() as u64,
        );
        reduce(h, self.slots.len())
    }

    fn find(&self, addr: u32, proto: L4Proto, port: u16) -> Option<usize> {
        let n = self.slots.len();
        if n == 0 {
            return None;
        }
        let mut i = self.home(addr, proto, port);
        for _ in 0..n {
            let s = &self.slots[i];
            if !s.live {
                return None;
            }
            if s.addr == addr && s.port == port && s.proto == proto.index() as u8 {
                return Some(i);
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        None
    }

    /// Whether one more entry fits.
    pub(crate) fn has_room(&self) -> bool {
        (self.len + 1) * 4 <= self.slots.len() * 3
    }

    /// Remembers an exempt mapping; false when full.
    pub(crate) fn insert(&mut self, addr: u32, proto: L4Proto, port: u16) -> bool {
        if !self.has_room() {
            return false;
        }
        let n = self.slots.len();
        let mut i = self.home(addr, proto, port);
        for _ in 0..n {
            if !self.slots[i].live {
                self.slots[i] = ExemptSlot {
                    addr,
                    port,
                    proto: proto.index() as u8,
                    live: true,
                };
                self.len += 1;
                return true;
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        false
    }

    /// Forgets an exempt mapping; returns whether it was one.
    pub(crate) fn remove(&mut self, addr: u32, proto: L4Proto, port: u16) -> bool {
        let Some(mut i) = self.find(addr, proto, port) else {
            return false;
        };
        let n = self.slots.len();
        let mut j = i;
        for _ in 0..n {
            j = if j + 1 == n { 0 } else { j + 1 };
            let s = self.slots[j];
            if !s.live {
                break;
            }
            let k = self.home(s.addr, L4Proto::ALL[usize::from(s.proto).min(2)], s.port);
            let stays = if i <= j {
                i < k && k <= j
            } else {
                i < k || k <= j
            };
            if !stays {
                self.slots[i] = s;
                i = j;
            }
        }
        self.slots[i] = ExemptSlot::EMPTY;
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_by_prefix_port_and_proto() {
        let list = [
            Exemption {
                addr: Ipv4Addr::new(192, 0, 2, 0),
                prefix_len: 24,
                port: Some(53),
                proto: None,
                action: ExemptAction::NoQuota,
            },
            Exemption {
                addr: Ipv4Addr::new(192, 0, 2, 10),
                prefix_len: 32,
                port: Some(443),
                proto: Some(L4Proto::Tcp),
                action: ExemptAction::PassThrough,
            },
        ];
        let ex = Exemptions::new(&list).unwrap();
        let dns = Endpoint::new(Ipv4Addr::new(192, 0, 2, 99), 53);
        assert_eq!(ex.classify(L4Proto::Udp, &dns), Some(ExemptAction::NoQuota));
        let web = Endpoint::new(Ipv4Addr::new(192, 0, 2, 10), 443);
        assert!(ex.pass_through(L4Proto::Tcp, &web));
        assert!(!ex.pass_through(L4Proto::Udp, &web));
        assert_eq!(
            ex.classify(
                L4Proto::Udp,
                &Endpoint::new(Ipv4Addr::new(192, 0, 3, 1), 53)
            ),
            None
        );
    }

    #[test]
    fn table_insert_remove() {
        let mut slots = [ExemptSlot::EMPTY; 16];
        let mut t = ExemptTable::new(&mut slots, &SecretKey::new(1, 1));
        for p in 0..12u16 {
            assert!(t.insert(u32::from(p % 3), L4Proto::Udp, p));
        }
        assert!(!t.insert(9, L4Proto::Udp, 9), "load limit");
        for p in (0..12u16).step_by(2) {
            assert!(t.remove(u32::from(p % 3), L4Proto::Udp, p));
        }
        for p in 0..12u16 {
            assert_eq!(
                t.find(u32::from(p % 3), L4Proto::Udp, p).is_some(),
                p % 2 == 1
            );
        }
        assert!(!t.remove(0, L4Proto::Tcp, 1));
    }
}
