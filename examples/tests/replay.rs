//! The `replay` binary end to end: a capture built in memory, replayed through
//! `config/replay.toml`, and the output capture taken apart.

use nat_std::pcap::{LinkType, PcapReader, PcapWriter};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const REPLAY: &str = env!("CARGO_BIN_EXE_replay");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/replay.toml");

const HOST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const POOL: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);

/// RFC 1071 ones' complement sum of `data`, folded, not inverted.
fn sum(mut acc: u32, data: &[u8]) -> u32 {
    for c in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn pseudo(pkt: &[u8]) -> u32 {
    let l4 = (pkt.len() - 20) as u32;
    sum(l4 + u32::from(pkt[9]), &pkt[12..20])
}

/// An IPv4 packet around transport header and payload `l4`, with the IPv4 checksum and the
/// transport checksum at `l4[csum_at..]` filled in.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let len = 20 + l4.len();
    let mut p = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let ip = !(sum(0, &p) as u16);
    p[10..12].copy_from_slice(&ip.to_be_bytes());
    let ph = sum(l4.len() as u32 + u32::from(proto), &p[12..20]);
    let l4_sum = !(sum(ph, &l4) as u16);
    l4[csum_at..csum_at + 2].copy_from_slice(&l4_sum.to_be_bytes());
    p.extend_from_slice(&l4);
    p
}

/// An IPv4 UDP datagram, checksums filled in.
fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut l4 = [sport.to_be_bytes(), dport.to_be_bytes()].concat();
    l4.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    l4.extend_from_slice(&[0, 0]);
    l4.extend_from_slice(payload);
    ipv4(src, dst, 17, l4, 6)
}

/// An IPv4 TCP SYN, checksums filled in.
fn syn(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut l4 = [sport.to_be_bytes(), dport.to_be_bytes()].concat();
    l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    ipv4(src, dst, 6, l4, 16)
}

/// An Ethernet frame around `payload`, padded to the 60-byte minimum.
fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().max(60), 0);
    f
}

struct Packet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ip_ok: bool,
    udp_ok: bool,
}

fn take_apart(p: &[u8]) -> Packet {
    let a = |at: usize| Ipv4Addr::new(p[at], p[at + 1], p[at + 2], p[at + 3]);
    Packet {
        src: a(12),
        dst: a(16),
        sport: u16::from_be_bytes([p[20], p[21]]),
        dport: u16::from_be_bytes([p[22], p[23]]),
        ip_ok: sum(0, &p[..20]) == 0xffff,
        udp_ok: sum(pseudo(p), &p[20..]) == 0xffff,
    }
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nat-replay-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn replay(args: &[&Path]) -> Output {
    Command::new(REPLAY).args(args).output().unwrap()
}

#[test]
fn outbound_udp_and_its_reply_are_translated_with_correct_checksums() {
    let dir = scratch("udp");
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet).unwrap();
    let t0 = Duration::new(1_700_000_000, 0);
    let ms = Duration::from_millis;
    let query = udp(HOST, 5000, SERVER, 53, b"query");
    w.write_packet(t0, &ethernet(0x0800, &query)).unwrap();
    let answer = udp(SERVER, 53, POOL, 5000, b"answer!");
    w.write_packet(t0 + ms(20), &ethernet(0x0800, &answer))
        .unwrap();
    // Unsolicited, to a port nobody mapped; then an ARP frame.
    let stray = udp(SERVER, 53, POOL, 6000, b"stray");
    w.write_packet(t0 + ms(30), &ethernet(0x0800, &stray))
        .unwrap();
    w.write_packet(t0 + ms(40), &ethernet(0x0806, &[0; 28]))
        .unwrap();
    std::fs::write(&input, w.into_inner()).unwrap();

    let out = replay(&[Path::new("--config"), Path::new(CONFIG), &input, &output]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "#1 outbound forward len=33 udp 198.51.100.1:5000 -> 203.0.113.5:53",
            "#2 inbound forward len=35 udp 203.0.113.5:53 -> 10.0.0.2:5000",
            "#3 inbound drop reason=no_mapping",
            "#4 skip not_ipv4",
        ]
    );

    let file = std::fs::read(&output).unwrap();
    let mut r = PcapReader::new(&file[..]).unwrap();
    assert_eq!(r.link_type(), LinkType::Raw);
    let mut data = Vec::new();
    let h = r.next_record(&mut data).unwrap().unwrap();
    assert_eq!(h.ts, t0);
    // Ethernet padding is gone: the packet is as long as its IPv4 header says.
    assert_eq!(data.len(), query.len());
    let p = take_apart(&data);
    assert_eq!((p.src, p.sport, p.dst, p.dport), (POOL, 5000, SERVER, 53));
    assert!(p.ip_ok && p.udp_ok, "outbound checksums");
    assert_eq!(data[28..], query[28..]);

    let h = r.next_record(&mut data).unwrap().unwrap();
    assert_eq!(h.ts, t0 + ms(20));
    let p = take_apart(&data);
    assert_eq!((p.src, p.sport, p.dst, p.dport), (SERVER, 53, HOST, 5000));
    assert!(p.ip_ok && p.udp_ok, "inbound checksums");
    assert_eq!(&data[28..], b"answer!");
    assert!(r.next_record(&mut data).unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_arguments_print_the_usage_and_exit_2() {
    for args in [
        &[][..],
        &[Path::new("--config")][..],
        &[Path::new("x"); 5][..],
    ] {
        let out = replay(args);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage: replay"));
    }
}

#[test]
fn bad_inputs_are_messages_with_exit_code_2() {
    let dir = scratch("bad");
    let (good_in, out) = (dir.join("in.pcap"), dir.join("out.pcap"));
    let w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
    std::fs::write(&good_in, w.into_inner()).unwrap();
    let not_pcap = dir.join("not.pcap");
    std::fs::write(&not_pcap, b"this is not a capture file at all").unwrap();
    let truncated = dir.join("truncated.pcap");
    let mut w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
    w.write_packet(Duration::ZERO, &udp(HOST, 1, SERVER, 2, b"x"))
        .unwrap();
    let mut bytes = w.into_inner();
    bytes.pop();
    std::fs::write(&truncated, bytes).unwrap();
    let bad_config = dir.join("bad.toml");
    std::fs::write(
        &bad_config,
        "[tun]\nname = \"x\"\n[nat]\ninside = [\"10.0.0.0/24\"]\n",
    )
    .unwrap();
    let config = Path::new(CONFIG);
    let missing = dir.join("missing.pcap");
    let cases: [(&Path, &Path, &Path, &str); 5] = [
        (config, &missing, &out, "missing.pcap"),
        (config, &not_pcap, &out, "not a pcap file"),
        (config, &truncated, &out, "record 1: file ends early"),
        (&bad_config, &good_in, &out, "bad.toml"),
        (
            config,
            &good_in,
            &dir.join("no/such/dir/out.pcap"),
            "out.pcap",
        ),
    ];
    for (cfg, input, output, message) in cases {
        let o = replay(&[Path::new("--config"), cfg, input, output]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.starts_with("replay: "), "{stderr}");
        assert!(stderr.contains(message), "{message}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rfc5382_req_4_held_syn_answered_at_its_own_time_between_records() {
    let dir = scratch("syn");
    let (input, output) = (dir.join("in.pcap"), dir.join("out.pcap"));
    let mut w = PcapWriter::new(Vec::new(), LinkType::Raw).unwrap();
    let t0 = Duration::new(1_700_000_000, 0);
    let scanner = Ipv4Addr::new(203, 0, 113, 9);
    w.write_packet(t0, &syn(scanner, 40000, POOL, 2222))
        .unwrap();
    w.write_packet(t0 + Duration::from_secs(10), &udp(HOST, 7, SERVER, 7, b""))
        .unwrap();
    std::fs::write(&input, w.into_inner()).unwrap();

    let out = replay(&[Path::new("--config"), Path::new(CONFIG), &input, &output]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "#1 inbound hold");
    assert!(
        lines[1].starts_with("timer t=6000ms reply ")
            && lines[1].ends_with("icmp-error type=3 code=3 198.51.100.1 -> 203.0.113.9"),
        "{stdout}"
    );
    assert!(lines[2].starts_with("#2 outbound forward "), "{stdout}");

    let file = std::fs::read(&output).unwrap();
    let mut r = PcapReader::new(&file[..]).unwrap();
    let mut data = Vec::new();
    let h = r.next_record(&mut data).unwrap().unwrap();
    assert_eq!(h.ts, t0 + Duration::from_secs(6));
    assert_eq!(sum(0, &data[..20]), 0xffff, "error's IPv4 checksum");
    assert_eq!(sum(0, &data[20..]), 0xffff, "ICMP checksum");
    let _ = std::fs::remove_dir_all(&dir);
}
