//! The example configurations stay valid as the configuration format evolves.

use nat_std::config::Config;
use std::path::Path;

#[test]
fn nat44_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nat44.toml");
    let v = Config::load_validated(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.runtime.tun_name, "nat44");
    assert_eq!(v.statics.len(), 1);
    assert!(!v.nat.decrement_ttl);
}

#[test]
fn nat64_example_config_is_valid() {
    use nat_std::config::{Nat64File, Nat64Settings};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nat64.toml");
    let v = Nat64File::load_validated(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.runtime.tun_name, "nat64");
    let Nat64Settings::Stateful(s) = v.engine else {
        panic!("the example runs a stateful NAT64");
    };
    assert_eq!(s.statics.len(), 1);
    assert!(s.config.wkp_non_global_rule);
}

#[test]
fn lsnat_example_config_is_valid() {
    use nat_std::config::LsnatFile;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/lsnat.toml");
    let v = LsnatFile::load_validated(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.runtime.tun_name, "lsnat");
    assert_eq!(v.virtual_servers.len(), 1);
    assert_eq!(v.virtual_servers[0].servers.len(), 3);
    assert!(v.probe.is_some());
}
