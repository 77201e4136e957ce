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
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: nat64 --config FILE [--check]";

/// A line to stderr; unlike `eprintln!`, no panic when stderr is gone.
fn say(msg: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, check) = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--config" | "-c", p] => (p.to_string(), false),
        ["--config" | "-c", p, "--check"] | ["--check", "--config" | "-c", p] => {
            (p.to_string(), true)
        }
        ["--help" | "-h"] => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            say(format_args!("{USAGE}"));
            return ExitCode::from(2);
        }
    };
    let cfg = match Nat64File::load_validated(Path::new(&path)) {
        Ok(c) => c,
        Err(e) => {
            say(format_args!("nat64: {e}"));
            return ExitCode::from(2);
        }
    };
    if check {
        let _ = writeln!(std::io::stdout(), "nat64: {path}: configuration is valid");
        return ExitCode::SUCCESS;
    }
    match run_nat64(&cfg, "nat64") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(format_args!("nat64: exiting: {e}"));
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
