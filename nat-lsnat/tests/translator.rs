//! LSNAT and LS-NAPT packet tests (RFC 2391 § 3.1, § 3.3; draft-srisuresh-lsnat § 4): exact
//! fields both ways, checksums valid, sessions pinned to their server and unbound at their end.

#[path = "../../nat-core/tests/common/mod.rs"]
mod common;

use common::{ACK, FIN, SYN, checksums_valid, endpoints, ep, icmp_error, ip, tcp, udp};
use nat_core::flow::L4Proto;
use nat_core::session::{FixedStore, SessionStore};
use nat_core::time::Instant;
use nat_core::verdict::{Direction, DropReason, Verdict};
use nat_lsnat::algorithm::Algorithm;
use nat_lsnat::server::ServerSpec;
use nat_lsnat::translator::{Lsnat, LsnatConfig, Mode};
use nat_lsnat::virtual_server::{Service, VirtualServer, VirtualServerConfig, VirtualServerTable};
use std::net::Ipv4Addr;

type Table = VirtualServerTable<Ipv4Addr, 2, 4>;
type Translator = Lsnat<Box<FixedStore<Ipv4Addr, Ipv4Addr, 256>>, 2, 4>;

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 100);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn servers() -> [Ipv4Addr; 3] {
    [ip(10, 0, 0, 2), ip(10, 0, 0, 3), ip(10, 0, 0, 4)]
}

fn translator(mode: Mode) -> Translator {
    let mut vs =
        VirtualServer::new(VIP, Algorithm::RoundRobin, VirtualServerConfig::default()).unwrap();
    vs.add_service(Service::new(L4Proto::Tcp, 80)).unwrap();
    vs.add_service(Service::new(L4Proto::Udp, 53)).unwrap();
    for s in servers() {
        vs.pool_mut().add(ServerSpec::new(s)).unwrap();
    }
    let mut t = Table::new();
    t.insert(vs).unwrap();
    let cfg = LsnatConfig {
        mode,
        ..LsnatConfig::default()
    };
    Lsnat::new(cfg, t, Box::new(FixedStore::new(9)))
}

fn run(l: &mut Translator, t: u64, dir: Direction, pkt: &[u8]) -> (Verdict, Vec<u8>) {
    let mut buf = pkt.to_vec();
    let v = l.process(Instant::from_secs(t), dir, &mut buf, 0, pkt.len());
    let out = match v {
        Verdict::Forward { start, len } => buf[start..start + len].to_vec(),
        _ => vec![],
    };
    (v, out)
}

fn client(n: u8) -> Ipv4Addr {
    ip(203, 0, 113, n)
}

#[test]
fn rfc2391_3_sessions_spread_and_stay_on_their_server() {
    let mut l = translator(Mode::Lsnat);
    let mut seen = vec![];
    for c in 1..=6 {
        let (v, o) = run(
            &mut l,
            0,
            Direction::Inbound,
            &tcp(ep(client(c), 40000), ep(VIP, 80), SYN, b""),
        );
        assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
        assert!(checksums_valid(&o));
        let (_, dst) = endpoints(&o);
        seen.push(dst.addr);
        // A later packet of the same session goes to the same server.
        let (_, o2) = run(
            &mut l,
            1,
            Direction::Inbound,
            &tcp(ep(client(c), 40000), ep(VIP, 80), ACK, b"GET /"),
        );
        assert_eq!(endpoints(&o2).1.addr, dst.addr);
    }
    // Round robin over three servers: each got two sessions.
    for s in servers() {
        assert_eq!(seen.iter().filter(|&&a| a == s).count(), 2, "{seen:?}");
    }
}

#[test]
fn rfc2391_3_1_lsnat_rewrites_only_destination_and_reply_source() {
    let mut l = translator(Mode::Lsnat);
    let syn = tcp(ep(client(7), 40001), ep(VIP, 80), SYN, b"");
    let (_, o) = run(&mut l, 0, Direction::Inbound, &syn);
    let (src, dst) = endpoints(&o);
    assert_eq!(src, ep(client(7), 40001), "the server sees the real client");
    assert_eq!(dst.port, 80);
    assert!(servers().contains(&dst.addr));
    // Everything but addresses, ports and checksums is unchanged.
    assert_eq!(o[..10], syn[..10]);
    assert_eq!(o[24..36], syn[24..36]);
    let (v, r) = run(
        &mut l,
        1,
        Direction::Outbound,
        &tcp(dst, src, SYN | ACK, b""),
    );
    assert!(matches!(v, Verdict::Forward { .. }));
    assert!(checksums_valid(&r));
    assert_eq!(endpoints(&r), (ep(VIP, 80), ep(client(7), 40001)));
}

#[test]
fn rfc2391_3_3_ls_napt_rewrites_the_client_to_the_router() {
    let mut l = translator(Mode::LsNapt { router: ROUTER });
    let (_, o) = run(
        &mut l,
        0,
        Direction::Inbound,
        &udp(ep(client(8), 5353), ep(VIP, 53), b"q"),
    );
    assert!(checksums_valid(&o));
    let (src, dst) = endpoints(&o);
    assert_eq!(src.addr, ROUTER);
    assert!(servers().contains(&dst.addr));
    let (_, r) = run(&mut l, 1, Direction::Outbound, &udp(dst, src, b"a"));
    assert!(checksums_valid(&r));
    assert_eq!(endpoints(&r), (ep(VIP, 53), ep(client(8), 5353)));
}

#[test]
fn rfc2391_2_3_binding_only_on_syn() {
    let mut l = translator(Mode::Lsnat);
    let (v, _) = run(
        &mut l,
        0,
        Direction::Inbound,
        &tcp(ep(client(9), 1), ep(VIP, 80), ACK, b""),
    );
    assert_eq!(v, Verdict::Drop(DropReason::NoMapping));
    let (v, _) = run(
        &mut l,
        0,
        Direction::Inbound,
        &tcp(ep(client(9), 1), ep(VIP, 22), SYN, b""),
    );
    assert_eq!(
        v,
        Verdict::Drop(DropReason::NoMapping),
        "port 22 is not load-shared"
    );
}

#[test]
fn rfc2391_4_session_unbound_after_fin_both_ways() {
    let mut l = translator(Mode::Lsnat);
    let c = ep(client(10), 40002);
    let (_, o) = run(
        &mut l,
        0,
        Direction::Inbound,
        &tcp(c, ep(VIP, 80), SYN, b""),
    );
    let s = endpoints(&o).1;
    let _ = run(&mut l, 0, Direction::Outbound, &tcp(s, c, SYN | ACK, b""));
    let _ = run(
        &mut l,
        1,
        Direction::Inbound,
        &tcp(c, ep(VIP, 80), FIN | ACK, b""),
    );
    let _ = run(&mut l, 1, Direction::Outbound, &tcp(s, c, FIN | ACK, b""));
    assert_eq!(l.store().session_count(), 1);
    // Both FINs: the transitory timer (4 min) ends it.
    assert_eq!(l.handle_timeout(Instant::from_secs(200), 10), 0);
    assert_eq!(l.handle_timeout(Instant::from_secs(300), 10), 1);
    assert_eq!(l.counters().unbound, 1);
    assert_eq!(l.store().bib_count(), 0);
}

#[test]
fn icmp_errors_follow_the_session_both_ways() {
    let mut l = translator(Mode::LsNapt { router: ROUTER });
    let c = ep(client(11), 6000);
    let (_, o) = run(&mut l, 0, Direction::Inbound, &udp(c, ep(VIP, 53), b"q"));
    let (r, s) = endpoints(&o);
    // The server answers, the client's host says port unreachable about the answer.
    let (_, reply) = run(&mut l, 0, Direction::Outbound, &udp(s, r, b"a"));
    let err = icmp_error(c.addr, VIP, 3, 3, [0; 4], &reply, reply.len());
    let (v, e) = run(&mut l, 1, Direction::Inbound, &err);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert!(checksums_valid(&e));
    assert_eq!(
        &e[16..20],
        &s.addr.octets(),
        "outer destination is the server"
    );
    assert_eq!(
        &e[28 + 12..28 + 16],
        &s.addr.octets(),
        "quoted source is the server"
    );
    assert_eq!(
        &e[28 + 16..28 + 20],
        &ROUTER.octets(),
        "quoted destination is the router"
    );
    // And a server's error about a client packet goes back as from the virtual server.
    let err = icmp_error(s.addr, r.addr, 3, 3, [0; 4], &o, o.len());
    let (v, e) = run(&mut l, 1, Direction::Outbound, &err);
    assert!(matches!(v, Verdict::Forward { .. }), "{v:?}");
    assert!(checksums_valid(&e));
    assert_eq!(&e[12..16], &VIP.octets());
    assert_eq!(&e[16..20], &c.addr.octets());
}
