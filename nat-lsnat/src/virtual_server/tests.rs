use super::*;
use crate::server::ServerSpec;
use core::net::Ipv4Addr;
use nat_core::flow::Endpoint;

const VIP: Ipv4Addr = Ipv4Addr::new(172, 87, 0, 100);
const NOW: Instant = Instant::ZERO;

fn server(n: u8) -> ServerSpec<Ipv4Addr> {
    ServerSpec::new(Ipv4Addr::new(172, 85, 0, n))
}

fn key(client: u8, port: u16) -> FlowKey<Ipv4Addr> {
    FlowKey::new(
        L4Proto::Tcp,
        Endpoint::new(Ipv4Addr::new(198, 76, 29, client), 1024 + u16::from(client)),
        Endpoint::new(VIP, port),
    )
}

fn vs<const M: usize>(algo: Algorithm) -> VirtualServer<Ipv4Addr, 4, M> {
    VirtualServer::new(VIP, algo, VirtualServerConfig::default()).unwrap()
}

#[test]
fn draft_5_1_least_weighted_load_example_s3_5x_beats_s1_6x() {
    // FTP sessions weigh 5x a telnet session (x); S3 is three times as resourceful as S1.
    let mut v = vs::<0>(Algorithm::LeastWeightedLoad);
    v.add_service(Service::new(L4Proto::Tcp, 21).with_session_weight(5))
        .unwrap();
    v.add_service(Service::new(L4Proto::Tcp, 23).with_session_weight(1))
        .unwrap();
    let s1 = v.pool_mut().add(server(1)).unwrap();
    let s3 = v.pool_mut().add(server(3).with_weight(3)).unwrap();
    let (ftp, telnet) = (key(1, 21), key(1, 23));
    // S1: 1 FTP and 1 telnet session; S3: 2 FTP and 5 telnet sessions.
    v.bind(NOW, s1, &ftp).unwrap();
    v.bind(NOW, s1, &telnet).unwrap();
    for _ in 0..2 {
        v.bind(NOW, s3, &ftp).unwrap();
    }
    for _ in 0..5 {
        v.bind(NOW, s3, &telnet).unwrap();
    }
    // (2·5x + 5·x) / 3 = 5x and (1·5x + 1·x) = 6x.
    assert_eq!(v.pool().weighted_load(s3).unwrap().value(), Some(5.0));
    assert_eq!(v.pool().weighted_load(s1).unwrap().value(), Some(6.0));
    // Whatever the rotating tie-break start, the new telnet session goes to S3.
    for _ in 0..4 {
        assert_eq!(v.choose(NOW, &key(2, 23)), Ok(s3));
    }
}

#[test]
fn unlisted_service_is_not_load_shared() {
    let mut v = vs::<0>(Algorithm::RoundRobin);
    v.pool_mut().add(server(1)).unwrap();
    assert!(v.choose(NOW, &key(1, 22)).is_ok());
    v.add_service(Service::new(L4Proto::Tcp, 80)).unwrap();
    assert_eq!(v.choose(NOW, &key(1, 22)), Err(ChooseError::NotLoadShared));
    assert!(v.choose(NOW, &key(1, 80)).is_ok());
    let mut other_addr = key(1, 80);
    other_addr.dst.addr = Ipv4Addr::new(172, 87, 0, 101);
    assert_eq!(v.choose(NOW, &other_addr), Err(ChooseError::NotLoadShared));
    assert!(v.remove_service(L4Proto::Tcp, 80));
    assert!(v.choose(NOW, &key(1, 22)).is_ok());
    assert_eq!(v.counters().not_load_shared, 2);
}

#[test]
fn services_list_is_bounded() {
    let mut v = vs::<0>(Algorithm::RoundRobin);
    for p in 0..MAX_SERVICES as u16 {
        v.add_service(Service::new(L4Proto::Udp, p)).unwrap();
    }
    // Re-adding a listed service only updates its weight.
    v.add_service(Service::new(L4Proto::Udp, 0).with_session_weight(9))
        .unwrap();
    assert_eq!(v.session_weight(L4Proto::Udp, 0), 9);
    assert_eq!(
        v.add_service(Service::new(L4Proto::Tcp, 1)),
        Err(ConfigError::TooManyServices)
    );
}

#[test]
fn empty_pool_is_a_typed_error_for_every_algorithm() {
    for algo in Algorithm::ALL {
        let mut v = vs::<409>(algo);
        assert_eq!(
            v.choose(NOW, &key(1, 80)),
            Err(ChooseError::NoServer),
            "{}",
            algo.name()
        );
    }
}

#[test]
fn maglev_without_table_is_refused() {
    let r =
        VirtualServer::<Ipv4Addr, 4>::new(VIP, Algorithm::Maglev, VirtualServerConfig::default());
    assert_eq!(r.err(), Some(ConfigError::NoMaglevTable));
}

#[test]
fn server_in_maintenance_sends_mapped_service_to_backup() {
    // The draft's upgrade case: a virtual server whose pool is one server, mapped to a standby.
    let mut v = vs::<0>(Algorithm::LeastLoad);
    let primary = v.pool_mut().add(server(1)).unwrap();
    let backup = v.pool_mut().add(server(9)).unwrap();
    v.pool_mut()
        .set_admin(NOW, backup, AdminState::Standby)
        .unwrap();
    assert_eq!(v.choose(NOW, &key(1, 80)), Ok(primary));
    v.map_backup(BackupMapping {
        primary,
        backup,
        service: Some((L4Proto::Tcp, 80)),
    })
    .unwrap();
    // The mapping is in force only while the primary is in maintenance.
    assert_eq!(v.choose(NOW, &key(1, 80)), Ok(primary));
    v.pool_mut()
        .set_admin(NOW, primary, AdminState::Maintenance)
        .unwrap();
    assert_eq!(v.choose(NOW, &key(1, 80)), Ok(backup));
    // Only the mapped service moves; others have no server during the upgrade.
    assert_eq!(v.choose(NOW, &key(1, 443)), Err(ChooseError::NoServer));
    v.map_backup(BackupMapping {
        primary,
        backup,
        service: None,
    })
    .unwrap();
    assert_eq!(v.choose(NOW, &key(1, 443)), Ok(backup));
    v.pool_mut()
        .set_admin(NOW, primary, AdminState::Active)
        .unwrap();
    assert_eq!(v.choose(NOW, &key(1, 443)), Ok(primary));
}

#[test]
fn maglev_backup_takes_exactly_the_primarys_keys() {
    let mut v = vs::<409>(Algorithm::Maglev);
    let ids: [ServerId; 3] =
        core::array::from_fn(|i| v.pool_mut().add(server(i as u8 + 1)).unwrap());
    let backup = v.pool_mut().add(server(9)).unwrap();
    v.pool_mut()
        .set_admin(NOW, backup, AdminState::Standby)
        .unwrap();
    v.map_backup(BackupMapping {
        primary: ids[0],
        backup,
        service: None,
    })
    .unwrap();
    let before: [ServerId; 200] =
        core::array::from_fn(|c| v.choose(NOW, &key(c as u8, 80)).unwrap());
    assert!(!before.contains(&backup));
    v.pool_mut()
        .set_admin(NOW, ids[0], AdminState::Maintenance)
        .unwrap();
    for (c, was) in before.iter().enumerate() {
        let now = v.choose(NOW, &key(c as u8, 80)).unwrap();
        if *was == ids[0] {
            assert_eq!(now, backup);
        } else {
            assert_eq!(now, *was);
        }
    }
}

#[test]
fn bad_mappings_are_refused_and_list_is_bounded() {
    let mut v = vs::<0>(Algorithm::RoundRobin);
    let a = v.pool_mut().add(server(1)).unwrap();
    let b = v.pool_mut().add(server(2)).unwrap();
    assert_eq!(
        v.map_backup(BackupMapping {
            primary: a,
            backup: a,
            service: None
        }),
        Err(ConfigError::BadMapping)
    );
    let stale = ServerId::from_parts(3, 7);
    assert_eq!(
        v.map_backup(BackupMapping {
            primary: stale,
            backup: b,
            service: None
        }),
        Err(ConfigError::BadMapping)
    );
    for p in 0..MAX_MAPPINGS as u16 {
        v.map_backup(BackupMapping {
            primary: a,
            backup: b,
            service: Some((L4Proto::Tcp, p)),
        })
        .unwrap();
    }
    assert_eq!(
        v.map_backup(BackupMapping {
            primary: a,
            backup: b,
            service: None
        }),
        Err(ConfigError::TooManyMappings)
    );
    assert!(v.unmap_backup(a, Some((L4Proto::Tcp, 0))));
    assert!(!v.unmap_backup(a, Some((L4Proto::Tcp, 0))));
    assert_eq!(v.mappings().count(), MAX_MAPPINGS - 1);
}

#[test]
fn maglev_table_is_rebuilt_only_when_the_pool_changes() {
    let mut v = vs::<409>(Algorithm::Maglev);
    let a = v.pool_mut().add(server(1)).unwrap();
    v.pool_mut().add(server(2)).unwrap();
    for c in 0..10 {
        v.choose(NOW, &key(c, 80)).unwrap();
    }
    assert_eq!(v.counters().maglev_rebuilds, 1);
    v.pool_mut().drain(NOW, a).unwrap();
    for c in 0..10 {
        assert_ne!(v.choose(NOW, &key(c, 80)), Ok(a));
    }
    assert_eq!(v.counters().maglev_rebuilds, 2);
}

#[test]
fn session_weights_follow_the_service_on_unbind() {
    let mut v = vs::<0>(Algorithm::LeastWeightedLoad);
    v.add_service(Service::new(L4Proto::Tcp, 21).with_session_weight(5))
        .unwrap();
    v.add_service(Service::new(L4Proto::Tcp, 23)).unwrap();
    let s = v.pool_mut().add(server(1)).unwrap();
    v.bind(NOW, s, &key(1, 21)).unwrap();
    v.bind(NOW, s, &key(1, 23)).unwrap();
    v.unbind(NOW, s, &key(1, 21)).unwrap();
    assert_eq!(v.pool().weighted_load(s).unwrap().session_weight_sum, 1);
}

#[test]
fn changing_algorithm_keeps_the_pool() {
    let mut v = vs::<409>(Algorithm::RoundRobin);
    let a = v.pool_mut().add(server(1)).unwrap();
    v.bind(NOW, a, &key(1, 80)).unwrap();
    v.set_algorithm(Algorithm::Maglev).unwrap();
    assert_eq!(v.algorithm(), Algorithm::Maglev);
    assert_eq!(v.choose(NOW, &key(1, 80)), Ok(a));
    assert_eq!(v.pool().stats(NOW, a).unwrap().sessions, 1);
}
