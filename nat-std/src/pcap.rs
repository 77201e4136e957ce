//! Capture files in the classic libpcap format: a reader of what `tcpdump -w` writes and a
//! writer of raw-IP captures, so that recorded traffic can be replayed through a translator and
//! the result opened in Wireshark.
//!
//! A file is a 24-byte header (magic number, version 2.4, snap length, link type) followed by
//! records, each a 16-byte header (seconds, micro- or nanoseconds, captured and original
//! length) and the captured bytes. The magic number gives the byte order and the timestamp
//! resolution. See [draft-ietf-opsawg-pcap] and the [link-type registry].
//!
//! The reader takes both byte orders and both resolutions; [`LinkType::ipv4_packet`] finds
//! the IPv4 packet in a frame of the link types a capture of a NAT's links has: raw IP,
//! Ethernet (with 802.1Q tags), Linux cooked v1 and v2. The writer writes little-endian,
//! microsecond files. Neither panics on any input: a damaged file is a [`PcapError`].
//!
//! [draft-ietf-opsawg-pcap]: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcap/
//! [link-type registry]: https://www.tcpdump.org/linktypes.html

use std::fmt;
use std::io::{self, Read, Write};
use std::time::Duration;

/// Magic number of a file with microsecond timestamps (as written in the file's byte order).
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic number of a file with nanosecond timestamps.
const MAGIC_NANOS: u32 = 0xa1b2_3c4d;

/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of a record header.
pub const RECORD_HEADER_LEN: usize = 16;
/// The longest record the reader accepts, and the snap length the writer declares: libpcap's
/// own maximum (`MAXIMUM_SNAPLEN`). A longer record means a damaged file, not a packet.
pub const MAX_RECORD_LEN: u32 = 262_144;

/// Field offsets of the file header.
mod field {
    use core::ops::Range;
    pub(super) const MAGIC: Range<usize> = 0..4;
    pub(super) const VERSION_MAJOR: Range<usize> = 4..6;
    pub(super) const VERSION_MINOR: Range<usize> = 6..8;
    pub(super) const SNAPLEN: Range<usize> = 16..20;
    pub(super) const LINKTYPE: Range<usize> = 20..24;
}

/// The link-layer header type of a capture (`LINKTYPE_*` of the [registry]).
///
/// [registry]: https://www.tcpdump.org/linktypes.html
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// `LINKTYPE_ETHERNET` (1): IEEE 802.3 frames.
    Ethernet,
    /// `LINKTYPE_RAW` (101): IPv4 or IPv6 packets, no link header (a TUN device).
    Raw,
    /// `LINKTYPE_LINUX_SLL` (113): Linux "cooked" v1 headers (`tcpdump -i any`, older).
    LinuxSll,
    /// `LINKTYPE_IPV4` (228): IPv4 packets, no link header.
    Ipv4,
    /// `LINKTYPE_LINUX_SLL2` (276): Linux "cooked" v2 headers (`tcpdump -i any`).
    LinuxSll2,
    /// Any other link type.
    Unknown(u32),
}

impl From<u32> for LinkType {
    fn from(v: u32) -> Self {
        match v {
            1 => LinkType::Ethernet,
            101 => LinkType::Raw,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            276 => LinkType::LinuxSll2,
            other => LinkType::Unknown(other),
        }
    }
}

impl From<LinkType> for u32 {
    fn from(l: LinkType) -> u32 {
        match l {
            LinkType::Ethernet => 1,
            LinkType::Raw => 101,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::LinuxSll2 => 276,
            LinkType::Unknown(v) => v,
        }
    }
}

/// EtherType of IPv4.
const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherTypes of 802.1Q and 802.1ad VLAN tags.
const ETHERTYPE_VLAN: [u16; 2] = [0x8100, 0x88a8];

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

impl LinkType {
    /// The IPv4 packet a frame of this link type carries, or `None` if it carries something
    /// else (IPv6, ARP) or is too short to tell. Bytes after the packet's IPv4 total length
    /// (Ethernet padding) are cut off; a packet cut short by the snap length is returned as
    /// captured, for the translator to refuse.
    pub fn ipv4_packet(self, frame: &[u8]) -> Option<&[u8]> {
        let pkt = match self {
            LinkType::Raw | LinkType::Ipv4 => frame,
            LinkType::Ethernet => {
                let mut at = 12;
                let mut ethertype = be16(frame, at)?;
                while ETHERTYPE_VLAN.contains(&ethertype) {
                    at += 4;
                    ethertype = be16(frame, at)?;
                }
                if ethertype != ETHERTYPE_IPV4 {
                    return None;
                }
                frame.get(at + 2..)?
            }
            LinkType::LinuxSll => {
                (be16(frame, 14)? == ETHERTYPE_IPV4).then_some(())?;
                frame.get(16..)?
            }
            LinkType::LinuxSll2 => {
                (be16(frame, 0)? == ETHERTYPE_IPV4).then_some(())?;
                frame.get(20..)?
            }
            LinkType::Unknown(_) => return None,
        };
        if pkt.first()? >> 4 != 4 {
            return None;
        }
        match be16(pkt, 2).map(usize::from) {
            Some(total) if (20..pkt.len()).contains(&total) => pkt.get(..total),
            _ => Some(pkt),
        }
    }
}

/// Why a capture file cannot be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum PcapError {
    /// Reading failed.
    Io(io::Error),
    /// The file does not start with a pcap magic number (a pcapng file, or not a capture).
    BadMagic(u32),
    /// A major version other than 2.
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// The file ends inside its header or a record.
    Truncated {
        /// Bytes the header or record needs.
        need: usize,
        /// Bytes there were.
        got: usize,
    },
    /// A record claims more than [`MAX_RECORD_LEN`] bytes.
    RecordTooLong {
        /// The captured length the record claims.
        len: u32,
    },
}

impl fmt::Display for PcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PcapError::Io(e) => write!(f, "{e}"),
            PcapError::BadMagic(m) => write!(
                f,
                "not a pcap file (magic {m:#010x}; pcapng files need `editcap -F pcap`)"
            ),
            PcapError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported pcap version {major}.{minor}")
            }
            PcapError::Truncated { need, got } => {
                write!(f, "file ends early: {got} of {need} bytes")
            }
            PcapError::RecordTooLong { len } => {
                write!(f, "record of {len} bytes, more than {MAX_RECORD_LEN}")
            }
        }
    }
}

impl std::error::Error for PcapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PcapError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for PcapError {
    fn from(e: io::Error) -> Self {
        PcapError::Io(e)
    }
}

/// The header of one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// When the packet was captured, since the Unix epoch.
    pub ts: Duration,
    /// Its length on the wire (the captured bytes may be fewer).
    pub orig_len: u32,
}

/// Reads `buf.len()` bytes, or fewer at the end of the input; returns how many.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A reader of a classic pcap file.
#[derive(Debug)]
pub struct PcapReader<R> {
    inner: R,
    big_endian: bool,
    nanos: bool,
    snaplen: u32,
    link: LinkType,
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut inner: R) -> Result<Self, PcapError> {
        let mut h = [0u8; FILE_HEADER_LEN];
        let got = read_full(&mut inner, &mut h)?;
        if got < FILE_HEADER_LEN {
            return Err(PcapError::Truncated {
                need: FILE_HEADER_LEN,
                got,
            });
        }
        let m = &h[field::MAGIC];
        let le = u32::from_le_bytes([m[0], m[1], m[2], m[3]]);
        let (big_endian, nanos) = match (le, le.swap_bytes()) {
            (MAGIC_MICROS, _) => (false, false),
            (MAGIC_NANOS, _) => (false, true),
            (_, MAGIC_MICROS) => (true, false),
            (_, MAGIC_NANOS) => (true, true),
            _ => return Err(PcapError::BadMagic(le.swap_bytes())),
        };
        let mut r = PcapReader {
            inner,
            big_endian,
            nanos,
            snaplen: 0,
            link: LinkType::Unknown(0),
        };
        let (major, minor) = (
            r.u16_at(&h, field::VERSION_MAJOR.start),
            r.u16_at(&h, field::VERSION_MINOR.start),
        );
        if major != 2 {
            return Err(PcapError::UnsupportedVersion { major, minor });
        }
        r.snaplen = r.u32_at(&h, field::SNAPLEN.start);
        // The upper 16 bits carry the FCS length and flags (draft-ietf-opsawg-pcap § 4).
        r.link = LinkType::from(r.u32_at(&h, field::LINKTYPE.start) & 0x0fff_ffff);
        Ok(r)
    }

    fn u16_at(&self, b: &[u8], at: usize) -> u16 {
        let v = [b[at], b[at + 1]];
        if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    /// The link type of every record.
    pub fn link_type(&self) -> LinkType {
        self.link
    }

    /// The snap length the capture declares.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Whether the timestamps have nanosecond resolution (else microseconds).
    pub fn nanosecond(&self) -> bool {
        self.nanos
    }

    /// Reads the next record into `data` (replacing its contents); `None` at the end of the
    /// file. `data` keeps its capacity from record to record.
    pub fn next_record(&mut self, data: &mut Vec<u8>) -> Result<Option<RecordHeader>, PcapError> {
        let mut h = [0u8; RECORD_HEADER_LEN];
        match read_full(&mut self.inner, &mut h)? {
            0 => return Ok(None),
            RECORD_HEADER_LEN => {}
            got => {
                return Err(PcapError::Truncated {
                    need: RECORD_HEADER_LEN,
                    got,
                });
            }
        }
        let secs = self.u32_at(&h, 0);
        let frac = self.u32_at(&h, 4);
        let incl_len = self.u32_at(&h, 8);
        let orig_len = self.u32_at(&h, 12);
        if incl_len > MAX_RECORD_LEN {
            return Err(PcapError::RecordTooLong { len: incl_len });
        }
        let sub = if self.nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        let ts = Duration::from_secs(u64::from(secs)).saturating_add(sub);
        let len = incl_len as usize;
        data.clear();
        data.resize(len, 0);
        let got = read_full(&mut self.inner, data)?;
        if got < len {
            return Err(PcapError::Truncated { need: len, got });
        }
        Ok(Some(RecordHeader { ts, orig_len }))
    }
}

/// A writer of a classic pcap file: little-endian, microsecond timestamps, version 2.4.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    inner: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for records of link type `link`.
    pub fn new(mut inner: W, link: LinkType) -> io::Result<Self> {
        let mut h = [0u8; FILE_HEADER_LEN];
        h[field::MAGIC].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        h[field::VERSION_MAJOR].copy_from_slice(&2u16.to_le_bytes());
        h[field::VERSION_MINOR].copy_from_slice(&4u16.to_le_bytes());
        // Bytes 8..16, the time zone offset and the accuracy of the timestamps, stay zero.
        h[field::SNAPLEN].copy_from_slice(&MAX_RECORD_LEN.to_le_bytes());
        h[field::LINKTYPE].copy_from_slice(&u32::from(link).to_le_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner })
    }

    /// Writes one record captured at `ts` (since the Unix epoch; seconds past 2106 are cut to
    /// the largest the format holds). A packet longer than [`MAX_RECORD_LEN`] is refused
    /// (`InvalidInput`).
    pub fn write_packet(&mut self, ts: Duration, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .ok()
            .filter(|&l| l <= MAX_RECORD_LEN)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("packet of {} bytes, more than {MAX_RECORD_LEN}", data.len()),
                )
            })?;
        let secs = u32::try_from(ts.as_secs()).unwrap_or(u32::MAX);
        let mut h = [0u8; RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&ts.subsec_micros().to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&h)?;
        self.inner.write_all(data)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte IPv4 header (UDP, 10.0.0.2 -> 203.0.113.5) and an 8-byte UDP header: a
    /// 28-byte datagram without payload.
    const IPV4_UDP: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x34, 0xc9, 0x0a, 0x00, 0x00,
        0x02, 0xcb, 0x00, 0x71, 0x05, 0x13, 0x88, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00,
    ];

    /// A hand-built file: little-endian, microseconds, LINKTYPE_RAW, one record of
    /// [`IPV4_UDP`] at 1 700 000 000.25 s.
    fn golden_raw_le() -> Vec<u8> {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, // magic, little-endian, microseconds
            0x02, 0x00, 0x04, 0x00, // version 2.4
            0x00, 0x00, 0x00, 0x00, // time zone
            0x00, 0x00, 0x00, 0x00, // timestamp accuracy
            0x00, 0x00, 0x04, 0x00, // snap length 262144
            0x65, 0x00, 0x00, 0x00, // LINKTYPE_RAW
            0x00, 0xf1, 0x53, 0x65, // 1700000000 s
            0x90, 0xd0, 0x03, 0x00, // 250000 µs
            0x1c, 0x00, 0x00, 0x00, // 28 bytes captured
            0x1c, 0x00, 0x00, 0x00, // 28 bytes on the wire
        ];
        f.extend_from_slice(&IPV4_UDP);
        f
    }

    type Records = Vec<(RecordHeader, Vec<u8>)>;

    fn read_all(file: &[u8]) -> Result<(LinkType, Records), PcapError> {
        let mut r = PcapReader::new(file)?;
        let mut out = Vec::new();
        let mut data = Vec::new();
        while let Some(h) = r.next_record(&mut data)? {
            out.push((h, data.clone()));
        }
        Ok((r.link_type(), out))
    }

    #[test]
    fn reads_golden_little_endian_raw_file() {
        let file = golden_raw_le();
        let r = PcapReader::new(&file[..]).unwrap();
        assert_eq!(r.snaplen(), MAX_RECORD_LEN);
        assert!(!r.nanosecond());
        let (link, recs) = read_all(&file).unwrap();
        assert_eq!(link, LinkType::Raw);
        assert_eq!(recs.len(), 1);
        let (h, data) = &recs[0];
        assert_eq!(h.ts, Duration::new(1_700_000_000, 250_000_000));
        assert_eq!(h.orig_len, 28);
        assert_eq!(data[..], IPV4_UDP);
        assert_eq!(link.ipv4_packet(data), Some(&IPV4_UDP[..]));
    }

    #[test]
    fn writes_golden_little_endian_raw_file() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
        w.write_packet(Duration::new(1_700_000_000, 250_000_000), &IPV4_UDP)
            .unwrap();
        assert_eq!(w.into_inner(), golden_raw_le());
    }

    #[test]
    fn reads_big_endian_nanosecond_ethernet_file() {
        let mut file = vec![
            0xa1, 0xb2, 0x3c, 0x4d, // magic, big-endian, nanoseconds
            0x00, 0x02, 0x00, 0x04, // version 2.4
            0, 0, 0, 0, 0, 0, 0, 0, // time zone, accuracy
            0x00, 0x00, 0xff, 0xff, // snap length 65535
            0x00, 0x00, 0x00, 0x01, // LINKTYPE_ETHERNET
            0x00, 0x00, 0x00, 0x02, // 2 s
            0x00, 0x00, 0x00, 0x07, // 7 ns
            0x00, 0x00, 0x00, 0x3c, // 60 bytes captured (with padding)
            0x00, 0x00, 0x00, 0x3c, // 60 on the wire
        ];
        let mut frame = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]); // 802.1Q, VLAN 10
        frame.extend_from_slice(&[0x08, 0x00]);
        frame.extend_from_slice(&IPV4_UDP);
        frame.resize(60, 0);
        file.extend_from_slice(&frame);
        let r = PcapReader::new(&file[..]).unwrap();
        assert!(r.nanosecond());
        assert_eq!(r.snaplen(), 65535);
        let (link, recs) = read_all(&file).unwrap();
        assert_eq!(link, LinkType::Ethernet);
        assert_eq!(recs[0].0.ts, Duration::new(2, 7));
        assert_eq!(link.ipv4_packet(&recs[0].1), Some(&IPV4_UDP[..]));
    }

    #[test]
    fn finds_ipv4_in_linux_cooked_frames() {
        let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&IPV4_UDP);
        assert_eq!(LinkType::LinuxSll.ipv4_packet(&sll), Some(&IPV4_UDP[..]));
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0,
        ];
        sll2.extend_from_slice(&IPV4_UDP);
        assert_eq!(LinkType::LinuxSll2.ipv4_packet(&sll2), Some(&IPV4_UDP[..]));
        // IPv6 in a cooked frame, an ARP frame, an IPv6 raw packet: not IPv4.
        sll[14..16].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(LinkType::LinuxSll.ipv4_packet(&sll), None);
        let arp = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06, 0, 1];
        assert_eq!(LinkType::Ethernet.ipv4_packet(&arp), None);
        assert_eq!(LinkType::Raw.ipv4_packet(&[0x60, 0, 0, 0]), None);
        assert_eq!(LinkType::Unknown(0).ipv4_packet(&IPV4_UDP), None);
    }

    #[test]
    fn short_frames_are_not_ipv4_and_do_not_panic() {
        for link in [
            LinkType::Ethernet,
            LinkType::Raw,
            LinkType::LinuxSll,
            LinkType::Ipv4,
            LinkType::LinuxSll2,
        ] {
            for n in 0..16 {
                let frame = [0x81u8; 16];
                let _ = link.ipv4_packet(&frame[..n]);
            }
            assert_eq!(link.ipv4_packet(&[]), None);
        }
    }

    #[test]
    fn link_type_numbers_round_trip() {
        for n in [0u32, 1, 101, 113, 228, 276, 999] {
            assert_eq!(u32::from(LinkType::from(n)), n);
        }
    }

    #[test]
    fn damaged_files_are_errors() {
        let file = golden_raw_le();
        assert!(matches!(
            PcapReader::new(&file[..10]),
            Err(PcapError::Truncated { need: 24, got: 10 })
        ));
        assert!(matches!(
            read_all(&file[..30]),
            Err(PcapError::Truncated { need: 16, got: 6 })
        ));
        assert!(matches!(
            read_all(&file[..file.len() - 1]),
            Err(PcapError::Truncated { need: 28, got: 27 })
        ));
        let mut pcapng = file.clone();
        pcapng[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
        assert!(matches!(
            PcapReader::new(&pcapng[..]),
            Err(PcapError::BadMagic(0x0a0d_0d0a))
        ));
        let mut v1 = file.clone();
        v1[4] = 1;
        assert!(matches!(
            PcapReader::new(&v1[..]),
            Err(PcapError::UnsupportedVersion { major: 1, minor: 4 })
        ));
        let mut huge = file.clone();
        huge[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            read_all(&huge),
            Err(PcapError::RecordTooLong { len: u32::MAX })
        ));
        // A header and nothing else: an empty capture.
        assert_eq!(read_all(&file[..24]).unwrap().1.len(), 0);
    }

    #[test]
    fn writer_refuses_oversized_packets() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
        let big = vec![0u8; MAX_RECORD_LEN as usize + 1];
        let e = w.write_packet(Duration::ZERO, &big).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.into_inner().len(), FILE_HEADER_LEN);
    }
}
