//! What the example binaries share: the command line `NAME --config FILE [--check]`, loading
//! and checking the configuration, running the translator, and exit codes (0 after a signal,
//! 1 when the device or the log cannot be set up, 2 for a wrong command line or configuration,
//! 3 when the TUN device vanishes).

use nat_std::config::ConfigError;
use nat_std::runtime::RunError;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// A line to stderr; unlike `eprintln!`, no panic when stderr is gone.
pub fn say(msg: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// The `main` of a translator binary called `name`: parses the command line, loads the
/// configuration with `load` and runs it with `run`. `options` lists the binary's own
/// alternatives to `--check` in the usage line (" | --who ADDR:PORT"), which its `main`
/// handles before calling this.
pub fn translator_main<C>(
    name: &str,
    options: &str,
    load: impl FnOnce(&Path) -> Result<C, ConfigError>,
    run: impl FnOnce(&C, &str) -> Result<(), RunError>,
) -> ExitCode {
    let usage = format!("usage: {name} --config FILE [--check{options}]");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (path, check) = match args.as_slice() {
        ["--config" | "-c", p] => (*p, false),
        ["--config" | "-c", p, "--check"] | ["--check", "--config" | "-c", p] => (*p, true),
        ["--help" | "-h"] => {
            let _ = writeln!(std::io::stdout(), "{usage}");
            return ExitCode::SUCCESS;
        }
        _ => {
            say(format_args!("{usage}"));
            return ExitCode::from(2);
        }
    };
    let cfg = match load(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            say(format_args!("{name}: {e}"));
            return ExitCode::from(2);
        }
    };
    if check {
        let _ = writeln!(std::io::stdout(), "{name}: {path}: configuration is valid");
        return ExitCode::SUCCESS;
    }
    match run(&cfg, name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            say(format_args!("{name}: exiting: {e}"));
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}
