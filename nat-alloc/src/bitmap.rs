//! Bitmaps of ports in use, searched a word (64 ports) at a time.
//!
//! A full port space (65,536 ports) is 1,024 words plus two 16-word summaries that mark the
//! words with no free even port and no free odd port. A search for a free port of a given parity
//! ([RFC 4787 § 4.2.2] REQ-4) therefore touches at most the 32 summary words and two data words,
//! whatever the occupancy: allocation stays O(1) when the pool is nearly full.
//!
//! Small bitmaps (a port block, a deterministic range) are plain `&[u64]` slices scanned word by
//! word: their length is bounded by the block size.
//!
//! [RFC 4787 § 4.2.2]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.2

/// Bits of the even positions of a word.
const EVEN: u64 = 0x5555_5555_5555_5555;
/// Bits of the odd positions of a word.
const ODD: u64 = !EVEN;

/// Which positions a search may return: any, or only one parity ([RFC 4787] REQ-4).
///
/// [RFC 4787]: https://www.rfc-editor.org/rfc/rfc4787#section-4.2.2
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Parity {
    /// Every position.
    Any,
    /// Even positions only.
    Even,
    /// Odd positions only.
    Odd,
}

impl Parity {
    /// The parity of `n`.
    pub(crate) fn of(n: u32) -> Parity {
        if n & 1 == 0 {
            Parity::Even
        } else {
            Parity::Odd
        }
    }

    /// The same class seen from positions shifted by an odd or even `base`.
    pub(crate) fn shifted(self, base: u32) -> Parity {
        match (self, base & 1) {
            (Parity::Even, 1) => Parity::Odd,
            (Parity::Odd, 1) => Parity::Even,
            (p, _) => p,
        }
    }

    fn mask(self) -> u64 {
        match self {
            Parity::Any => u64::MAX,
            Parity::Even => EVEN,
            Parity::Odd => ODD,
        }
    }

    /// Whether position `n` is in this class.
    pub(crate) fn admits(self, n: u32) -> bool {
        match self {
            Parity::Any => true,
            Parity::Even => n & 1 == 0,
            Parity::Odd => n & 1 == 1,
        }
    }
}

/// Something with free and used positions that the port chooser can search.
pub(crate) trait FreeSet {
    /// Whether position `p` is free.
    fn is_free(&self, p: u32) -> bool;
    /// The first free position of class `parity` in `from..=to`, if any.
    fn find_forward(&self, from: u32, to: u32, parity: Parity) -> Option<u32>;

    /// The first free position of class `parity` from `start` to `hi`, then from `lo` on,
    /// wrapping once. `lo <= start <= hi` is expected; other inputs are clamped.
    #[inline]
    fn find_wrapping(&self, start: u32, lo: u32, hi: u32, parity: Parity) -> Option<u32> {
        if lo > hi {
            return None;
        }
        let start = start.clamp(lo, hi);
        self.find_forward(start, hi, parity).or_else(|| {
            if start > lo {
                self.find_forward(lo, start - 1, parity)
            } else {
                None
            }
        })
    }
}

/// Word-by-word search of a plain bitmap slice (set bit = used); words past the end of the
/// slice count as used.
#[inline]
pub(crate) fn slice_find(words: &[u64], from: u32, to: u32, parity: Parity) -> Option<u32> {
    if from > to {
        return None;
    }
    let mask = parity.mask();
    let lw = (to >> 6) as usize;
    let mut w = (from >> 6) as usize;
    let mut free = !*words.get(w)? & mask & (u64::MAX << (from & 63));
    loop {
        if w == lw {
            free &= u64::MAX >> (63 - (to & 63));
        }
        if free != 0 {
            return Some(w as u32 * 64 + free.trailing_zeros());
        }
        w += 1;
        if w > lw {
            return None;
        }
        free = !*words.get(w)? & mask;
    }
}

/// Whether bit `i` of a slice is set (out-of-range bits read as set: never free).
pub(crate) fn slice_test(words: &[u64], i: u32) -> bool {
    words
        .get((i >> 6) as usize)
        .is_none_or(|w| w & (1 << (i & 63)) != 0)
}

/// Sets bit `i`; returns whether it was clear.
pub(crate) fn slice_set(words: &mut [u64], i: u32) -> bool {
    match words.get_mut((i >> 6) as usize) {
        Some(w) => {
            let b = 1 << (i & 63);
            let was_clear = *w & b == 0;
            *w |= b;
            was_clear
        }
        None => false,
    }
}

/// Clears bit `i`; returns whether it was set.
pub(crate) fn slice_clear(words: &mut [u64], i: u32) -> bool {
    match words.get_mut((i >> 6) as usize) {
        Some(w) => {
            let b = 1 << (i & 63);
            let was_set = *w & b != 0;
            *w &= !b;
            was_set
        }
        None => false,
    }
}

/// A plain bitmap slice seen as a [`FreeSet`].
pub(crate) struct SliceSet<'s>(pub(crate) &'s [u64]);

impl FreeSet for SliceSet<'_> {
    fn is_free(&self, p: u32) -> bool {
        !slice_test(self.0, p)
    }
    fn find_forward(&self, from: u32, to: u32, parity: Parity) -> Option<u32> {
        slice_find(self.0, from, to, parity)
    }
}

const PORT_WORDS: usize = 65536 / 64;
const SUMMARY_WORDS: usize = PORT_WORDS / 64;

/// The 65,536 ports of one outside address and protocol, with parity summaries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PortBitmap {
    words: [u64; PORT_WORDS],
    /// Bit `w` set: word `w` has no free even port.
    even_full: [u64; SUMMARY_WORDS],
    /// Bit `w` set: word `w` has no free odd port.
    odd_full: [u64; SUMMARY_WORDS],
    used: u32,
}

impl PortBitmap {
    /// All ports free.
    pub(crate) const EMPTY: PortBitmap = PortBitmap {
        words: [0; PORT_WORDS],
        even_full: [0; SUMMARY_WORDS],
        odd_full: [0; SUMMARY_WORDS],
        used: 0,
    };

    /// Ports in use.
    pub(crate) fn used(&self) -> u32 {
        self.used
    }

    /// Whether `port` is in use.
    pub(crate) fn is_set(&self, port: u16) -> bool {
        self.words[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    /// The summary bit of word `w`, and the summary of the parity class of `port` (whose
    /// "no free port" bit a change of `port` may flip).
    #[inline]
    fn summary_of(&mut self, port: u16) -> (&mut u64, u64) {
        let w = usize::from(port >> 6);
        let full = if port & 1 == 0 {
            &mut self.even_full
        } else {
            &mut self.odd_full
        };
        (&mut full[w >> 6], 1u64 << (w & 63))
    }

    /// Marks `port` used; returns whether it was free.
    #[inline]
    pub(crate) fn set(&mut self, port: u16) -> bool {
        let w = usize::from(port >> 6);
        let b = 1u64 << (port & 63);
        let v = self.words[w];
        if v & b != 0 {
            return false;
        }
        let v = v | b;
        self.words[w] = v;
        self.used += 1;
        // Only the class of `port` can have become full.
        let class = if port & 1 == 0 { EVEN } else { ODD };
        if v & class == class {
            let (sum, bit) = self.summary_of(port);
            *sum |= bit;
        }
        true
    }

    /// Marks `port` free; returns whether it was used.
    #[inline]
    pub(crate) fn clear(&mut self, port: u16) -> bool {
        let w = usize::from(port >> 6);
        let b = 1u64 << (port & 63);
        if self.words[w] & b == 0 {
            return false;
        }
        self.words[w] &= !b;
        self.used -= 1;
        // The class of `port` now has a free port in this word.
        let (sum, bit) = self.summary_of(port);
        *sum &= !bit;
        true
    }

    fn full(&self, sw: usize, parity: Parity) -> u64 {
        match parity {
            Parity::Any => self.even_full[sw] & self.odd_full[sw],
            Parity::Even => self.even_full[sw],
            Parity::Odd => self.odd_full[sw],
        }
    }

    /// The first word in `from..=to` that has a free position of `parity`, by the summaries.
    fn next_open_word(&self, from: usize, to: usize, parity: Parity) -> Option<usize> {
        let mut sw = from >> 6;
        let mut open = !self.full(sw, parity) & (u64::MAX << (from & 63));
        loop {
            if open != 0 {
                let w = sw * 64 + open.trailing_zeros() as usize;
                return (w <= to).then_some(w);
            }
            sw += 1;
            if sw >= SUMMARY_WORDS || sw * 64 > to {
                return None;
            }
            open = !self.full(sw, parity);
        }
    }
}

impl FreeSet for PortBitmap {
    fn is_free(&self, p: u32) -> bool {
        u16::try_from(p).is_ok_and(|p| !self.is_set(p))
    }

    #[inline]
    fn find_forward(&self, from: u32, to: u32, parity: Parity) -> Option<u32> {
        let to = to.min(65535);
        if from > to {
            return None;
        }
        let (fw, lw) = ((from >> 6) as usize, (to >> 6) as usize);
        let mask = parity.mask();
        let last = u64::MAX >> (63 - (to & 63));
        let first = !self.words[fw] & mask & (u64::MAX << (from & 63));
        if fw == lw {
            let f = first & last;
            return (f != 0).then(|| fw as u32 * 64 + f.trailing_zeros());
        }
        if first != 0 {
            return Some(fw as u32 * 64 + first.trailing_zeros());
        }
        let mut w = fw + 1;
        while w <= lw {
            w = self.next_open_word(w, lw, parity)?;
            let mut f = !self.words[w] & mask;
            if w == lw {
                f &= last;
            }
            if f != 0 {
                return Some(w as u32 * 64 + f.trailing_zeros());
            }
            w += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_skip_full_words() {
        let mut b = PortBitmap::EMPTY;
        for p in 0..=60000u16 {
            b.set(p);
        }
        assert_eq!(b.find_forward(0, 65535, Parity::Any), Some(60001));
        assert_eq!(b.find_forward(0, 65535, Parity::Even), Some(60002));
        assert_eq!(b.find_forward(0, 60000, Parity::Any), None);
        b.clear(17);
        assert_eq!(
            b.find_wrapping(30000, 1024, 65535, Parity::Odd),
            Some(60001)
        );
        assert_eq!(b.find_wrapping(30000, 0, 65535, Parity::Odd), Some(60001));
        assert_eq!(b.find_wrapping(61000, 0, 65535, Parity::Odd), Some(61001));
        assert_eq!(b.find_wrapping(65535, 0, 60000, Parity::Odd), Some(17));
        assert_eq!(b.find_wrapping(5, 0, 60000, Parity::Even), None);
        assert_eq!(b.used(), 60000);
    }

    #[test]
    fn parity_search_when_only_other_parity_is_free() {
        let mut b = PortBitmap::EMPTY;
        for p in (0..=65535u16).step_by(2) {
            b.set(p);
        }
        assert_eq!(b.find_forward(0, 65535, Parity::Even), None);
        assert_eq!(b.find_forward(2, 65535, Parity::Odd), Some(3));
        b.clear(65534);
        assert_eq!(b.find_forward(100, 65535, Parity::Even), Some(65534));
    }

    #[test]
    fn slice_search() {
        let mut w = [0u64; 2];
        for i in 0..100 {
            slice_set(&mut w, i);
        }
        assert_eq!(slice_find(&w, 0, 127, Parity::Any), Some(100));
        assert_eq!(slice_find(&w, 0, 99, Parity::Any), None);
        assert_eq!(slice_find(&w, 0, 127, Parity::Odd), Some(101));
        assert!(slice_test(&w, 1000));
        assert!(!slice_set(&mut w, 1000));
        assert!(slice_clear(&mut w, 5));
        assert_eq!(
            SliceSet(&w).find_wrapping(50, 0, 127, Parity::Any),
            Some(100)
        );
        assert_eq!(SliceSet(&w).find_wrapping(101, 0, 99, Parity::Any), Some(5));
    }
}
