//! `lsnat`: a load-sharing NAT (RFC 2391, draft-srisuresh-lsnat) on a Linux TUN device.
//!
//! ```text
//! lsnat --config FILE [--check]
//! ```
//!
//! Reads and checks the configuration (see `examples/config/lsnat.toml`), creates the TUN device
//! it names and translates until SIGINT or SIGTERM: new sessions to a virtual server address
//! are bound to a real server chosen by the virtual server's load-share algorithm, and the
//! servers' answers are rewritten back to the virtual address. A probe thread TCP-connects to
//! every server's service port every few seconds (from this network namespace); servers that
//! fail the probes, or leave a new session unanswered, are declared dead and get no new
//! sessions until they answer again (draft-srisuresh-lsnat § 6). Health changes are printed
//! and logged. SIGUSR1 dumps the counters and every server's state to stderr. Routes into the
//! device (the virtual addresses, and the servers' answers) are the operator's (see
//! `scripts/e2e.sh`). With `--check` it only checks the configuration.
//!
//! Exit codes: 0 after a signal, 1 when the device or the log cannot be set up, 2 for a wrong
//! command line or configuration (the message names the file, line and field), 3 when the TUN
//! device vanishes while running.

use nat_std::config::LsnatFile;
use nat_std::runtime::run_lsnat;
use std::process::ExitCode;

fn main() -> ExitCode {
    nat_examples::translator_main("lsnat", "", LsnatFile::load_validated, run_lsnat)
}
