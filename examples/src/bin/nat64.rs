//! `nat64`: a stateful NAT64 (RFC 6146) or a stateless SIIT (RFC 7915) on a Linux TUN device.
//!
//! ```text
//! nat64 --config FILE [--check]
//! ```
//!
//! Reads and checks the configuration (see `examples/config/nat64.toml`), creates the TUN device
//! it names and translates until SIGINT or SIGTERM: IPv6 packets read from the device go to
//! the IPv4 side, IPv4 packets to the IPv6 side. SIGUSR1 dumps the counters and the session
//! table to stderr. Routes into the device (pool6 and pool4, or the EAM prefixes) are the
//! operator's (see `scripts/e2e.sh`). With `--check` it only checks the configuration.
//!
//! Exit codes: 0 after a signal, 1 when the device or the log cannot be set up, 2 for a wrong
//! command line or configuration (the message names the file, line and field), 3 when the TUN
//! device vanishes while running.

use nat_std::config::Nat64File;
use nat_std::runtime::run_nat64;
use std::process::ExitCode;

fn main() -> ExitCode {
    nat_examples::translator_main("nat64", "", Nat64File::load_validated, run_nat64)
}
