//! The Jool graybox vectors for SIIT (`../shared/conformance/jool/`, GPL data read at run time,
//! never copied here): every case with `"suite": "siit"` is configured per its `config`, its
//! input translated, and the outputs compared with the expected packets under the comparator
//! rules of MANIFEST.md (listed ignore offsets; an expected IPv4 Identification of 0 means
//! "any", the expected header checksum then being recomputed). The JSON reader and the
//! comparator are shared with `jool_nat64.rs` in `jool_support`.

mod jool_support;

use jool_support::{Json, compare, jool_dir, parse_json};
use nat_core::siit::{
    Eam, Fragments, HEADROOM, Ipv4Prefix, Ipv6Prefix, Pref64, Siit, SiitConfig, UdpZeroChecksum,
};
use nat_core::verdict::Verdict;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Cases not expected to pass, with the reason. The manifest names no SIIT case as multi-hop;
/// its Linux-specific ICMP error choices (TOS 0xC0 ignored through offset 1, DF clear, TTL 64,
/// 576/1280-byte quotes, interface source) are reproduced by the translator's configuration.
const EXCLUDED: &[(&str, &str)] = &[];

fn addr_part(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or(s)
}

fn prefix4(s: &str) -> Ipv4Prefix {
    let (a, l) = s.split_once('/').unwrap_or((s, "32"));
    Ipv4Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

fn prefix6(s: &str) -> Ipv6Prefix {
    let (a, l) = s.split_once('/').unwrap_or((s, "128"));
    Ipv6Prefix::new(a.parse().unwrap(), l.parse().unwrap()).unwrap()
}

fn config_of(c: &Json) -> SiitConfig<8> {
    let mut cfg = SiitConfig::<8>::default();
    if let Some(p) = c.get("pool6").str() {
        let (a, l) = p.split_once('/').unwrap();
        cfg.pool6 = Some(Pref64::new(a.parse().unwrap(), l.parse().unwrap()).unwrap());
    }
    for e in c.get("eamt").arr() {
        let s = e.str().unwrap();
        let mut it = s.split_whitespace();
        let (a, b) = (it.next().unwrap(), it.next().unwrap());
        let (v6, v4) = if a.contains(':') { (a, b) } else { (b, a) };
        cfg.eamt
            .insert(Eam::new(prefix4(v4), prefix6(v6)).unwrap())
            .unwrap();
    }
    cfg.rfc6791_v4 = c.get("rfc6791v4-prefix").str().map(prefix4);
    cfg.rfc6791_v6 = c.get("rfc6791v6-prefix").str().map(prefix6);
    if let Some(m) = c.get("lowest-ipv6-mtu").num() {
        cfg.xlat.lowest_ipv6_mtu = m as u16;
    }
    if c.get("amend-udp-checksum-zero").num() == Some(1.0) {
        cfg.xlat.udp_zero_checksum = UdpZeroChecksum::Compute;
    }
    for a in c.get("translator_addrs").arr() {
        let s = addr_part(a.str().unwrap());
        let ip = s.split_once('/').map_or(s, |x| x.0);
        if ip.contains(':') {
            cfg.xlat.own_ipv6 = Some(ip.parse::<Ipv6Addr>().unwrap());
        } else {
            cfg.xlat.own_ipv4 = Some(ip.parse::<Ipv4Addr>().unwrap());
        }
    }
    let mtu = c.get("mtu");
    if let Some(m) = mtu.get("j.to_client_v6").num() {
        cfg.xlat.ipv6_mtu = m as u16;
    }
    if let Some(m) = mtu.get("j.to_client_v4").num() {
        cfg.xlat.ipv4_mtu = m as u16;
    }
    cfg
}

/// Runs one input through the translator: the packets that leave it.
fn run(siit: &Siit<8>, input: &[u8]) -> Vec<Vec<u8>> {
    // A receive buffer of ordinary size: ICMP errors with RFC 4884 padding may grow past the
    // input.
    let mut buf = vec![0u8; HEADROOM + input.len().max(2048)];
    buf[HEADROOM..HEADROOM + input.len()].copy_from_slice(input);
    match siit.translate(&mut buf, HEADROOM, input.len()) {
        Verdict::Forward { start, len } => {
            let pkt = &buf[start..start + len];
            match siit.fragment_mtu(pkt) {
                Some(mtu) => {
                    let mut out = Vec::new();
                    let mut scratch = vec![0u8; usize::from(mtu)];
                    Fragments::new(pkt, mtu)
                        .unwrap()
                        .for_each(&mut scratch, |f| out.push(f.to_vec()))
                        .unwrap();
                    out
                }
                None => vec![pkt.to_vec()],
            }
        }
        Verdict::Reply { start, len } => vec![buf[start..start + len].to_vec()],
        Verdict::Hold | Verdict::Drop(_) => Vec::new(),
    }
}

#[test]
fn jool_siit_suite() {
    let dir = jool_dir();
    let json = std::fs::read(dir.join("cases.json")).unwrap_or_else(|e| {
        panic!(
            "the Jool peer suite is missing at {}: {e}. It lives in ../shared/conformance/jool; \
             this test must not pass without it.",
            dir.display()
        )
    });
    let doc = parse_json(&json);
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut excluded = 0;
    for case in doc.get("cases").arr() {
        if case.get("suite").str() != Some("siit") {
            continue;
        }
        let id = case.get("id").str().unwrap().to_string();
        let siit = Siit::new(config_of(case.get("config"))).expect("config");
        let ignore: Vec<usize> = case
            .get("ignore_byte_offsets")
            .arr()
            .iter()
            .map(|v| v.num().unwrap() as usize)
            .collect();
        let mut outputs = Vec::new();
        for s in case.get("send").arr() {
            let input = std::fs::read(dir.join(s.str().unwrap())).expect("input packet");
            outputs.extend(run(&siit, &input));
        }
        let expected: Vec<Vec<u8>> = case
            .get("expect")
            .arr()
            .iter()
            .map(|e| std::fs::read(dir.join(e.str().unwrap())).expect("expected packet"))
            .collect();
        let mut problem = None;
        if outputs.len() != expected.len() {
            problem = Some(format!(
                "{} packets out, {} expected",
                outputs.len(),
                expected.len()
            ));
        } else {
            for (n, (w, g)) in expected.iter().zip(&outputs).enumerate() {
                if let Some(d) = compare(w, g, &ignore) {
                    problem = Some(format!("packet {n}: {d}"));
                    break;
                }
            }
        }
        let reason = EXCLUDED.iter().find(|(x, _)| *x == id).map(|(_, r)| *r);
        match (problem, reason) {
            (None, _) => passed += 1,
            (Some(_), Some(_)) => excluded += 1,
            (Some(p), None) => failures.push(format!(
                "{id} ({}): {p}",
                case.get("group").str().unwrap_or("")
            )),
        }
    }
    println!(
        "jool siit: {passed} passed, {} failed, {excluded} excluded",
        failures.len()
    );
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(passed > 0, "no SIIT case ran");
    assert!(failures.is_empty(), "{} SIIT cases failed", failures.len());
}

/// The vectors MANIFEST.md lists as present but not exercised by Jool's test.sh: the ten TCP
/// IPv4 → IPv6 pairs (sender `4-tcp-X` → receiver `6-tcp-X`) and `ebe1`, the expected output
/// of `eat1` with amend-udp-checksum-zero on (RFC 7915 § 4.5 option 2). Base configuration.
#[test]
fn jool_siit_unexercised_vectors() {
    let dir = jool_dir();
    let json = std::fs::read(dir.join("cases.json")).expect("the Jool peer suite is missing");
    let doc = parse_json(&json);
    let base = doc
        .get("cases")
        .arr()
        .iter()
        .find(|c| c.get("suite").str() == Some("siit"))
        .expect("a SIIT case")
        .get("config")
        .clone();
    let mut pairs: Vec<(String, String, bool)> = Vec::new();
    for csum in ["csumok", "csumfail"] {
        for shape in [
            "df-nofrag",
            "nodf-nofrag",
            "nodf-frag0",
            "nodf-frag1",
            "nodf-frag2",
        ] {
            pairs.push((
                format!("siit/pktgen/sender/4-tcp-{csum}-{shape}.pkt"),
                format!("siit/pktgen/receiver/6-tcp-{csum}-{shape}.pkt"),
                false,
            ));
        }
    }
    pairs.push((
        "siit/7915/eat1.pkt".into(),
        "siit/7915/ebe1.pkt".into(),
        true,
    ));
    let mut failures = Vec::new();
    for (send, expect, amend) in &pairs {
        let mut cfg = config_of(&base);
        if *amend {
            cfg.xlat.udp_zero_checksum = UdpZeroChecksum::Compute;
        }
        let siit = Siit::new(cfg).unwrap();
        let input = std::fs::read(dir.join(send)).expect("input");
        let want = std::fs::read(dir.join(expect)).expect("expected");
        let out = run(&siit, &input);
        match out.as_slice() {
            [got] => {
                if let Some(d) = compare(&want, got, &[]) {
                    failures.push(format!("{send}: {d}"));
                }
            }
            other => failures.push(format!("{send}: {} packets out", other.len())),
        }
    }
    println!(
        "jool siit (unexercised vectors): {} passed, {} failed",
        pairs.len() - failures.len(),
        failures.len()
    );
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(failures.is_empty());
}
