//! `nat44`: a carrier-grade NAT44 (draft-nishitani-cgn, RFC 6888) on a Linux TUN device.
//!
//! ```text
//! nat44 --config FILE [--check | --who ADDR:PORT]
//! ```
//!
//! Reads and checks the configuration (see `examples/config/nat44.toml`), creates the TUN device
//! it names and translates until SIGINT or SIGTERM; SIGUSR1 dumps the counters and the session
//! table to stderr. Routes to and from the device are the operator's (see `scripts/demo.sh`).
//! With `--check` it only checks the configuration. With `--who ADDR:PORT` it says, from the
//! configuration alone, who an outside address and port belongs to: a static mapping, a
//! deterministic subscriber (RFC 7422), or the port block whose log records to look up
//! (RFC 7269 § 5.1).
//!
//! Exit codes: 0 after a signal, 1 when the device or the log cannot be set up (or `--who`
//! finds that the configuration cannot hand the port out), 2 for a wrong command line or
//! configuration (the message names the file, line and field), 3 when the TUN device vanishes
//! while running.

use nat_examples::say;
use nat_std::config::Config;
use nat_std::runtime::{run_nat44, who};
use std::io::Write;
use std::net::SocketAddrV4;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path, who_flag, target] = args.as_slice()
        && matches!(flag.as_str(), "--config" | "-c")
        && who_flag == "--who"
    {
        return who_main(path, target);
    }
    nat_examples::translator_main(
        "nat44",
        " | --who ADDR:PORT",
        Config::load_validated,
        run_nat44,
    )
}

/// `nat44 --config FILE --who ADDR:PORT`.
fn who_main(path: &str, target: &str) -> ExitCode {
    let Ok(outside) = target.parse::<SocketAddrV4>() else {
        say(format_args!(
            "nat44: --who {target}: expected an IPv4 address and port, as 198.51.100.1:40000"
        ));
        return ExitCode::from(2);
    };
    let cfg = match Config::load_validated(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            say(format_args!("nat44: {e}"));
            return ExitCode::from(2);
        }
    };
    match who(&cfg, outside) {
        Ok(owner) => {
            let _ = writeln!(std::io::stdout(), "{outside}: {owner}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            say(format_args!("nat44: --who {outside}: {e}"));
            ExitCode::from(1)
        }
    }
}
