//! The example configurations stay valid as the configuration format evolves.

use nat_std::config::Config;
use std::path::Path;

#[test]
fn nat44_example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/nat44.toml");
    let v = Config::load_validated(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.tun_name, "nat44");
    assert_eq!(v.statics.len(), 1);
    assert!(!v.nat.decrement_ttl);
}
