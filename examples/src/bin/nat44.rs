//! `nat44`: a carrier-grade NAT44 (draft-nishitani-cgn, RFC 6888) on a Linux TUN device.
//!
//! ```text
//! nat44 --config FILE [--check]
//! ```
//!
//! Reads and checks the configuration (see `examples/config/nat44.toml`), creates the TUN device
//! it names and translates until SIGINT or SIGTERM; SIGUSR1 dumps the counters and the session
//! table to stderr. Routes to and from the device are the operator's (see `scripts/demo.sh`).
//! With `--check` it only checks the configuration.
//!
//! Exit codes: 0 after a signal, 1 when the device or the log cannot be set up, 2 for a wrong
//! command line or configuration (the message names the file, line and field), 3 when the TUN
//! device vanishes while running.

use nat_std::config::Config;
use nat_std::runtime::run_nat44;
use std::process::ExitCode;

fn main() -> ExitCode {
    nat_examples::translator_main("nat44", Config::load_validated, run_nat44)
}
