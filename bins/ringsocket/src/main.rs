//! `ringsocket`: the RingSocket WebSocket server daemon.
//!
//! ```text
//! ringsocket [--check] [CONFIG]
//! ```
//!
//! This binary only wires the crates together: it reads the command line,
//! loads the configuration with `rs_conf`, and runs the startup sequence
//! (see `serve`). `--check` validates a configuration without starting
//! anything. Exit status: 0 success, 1 the server failed, 2 invalid command
//! line or configuration.

mod cli;
mod config;
mod daemon;
mod exit;
mod logging;
mod privileges;
mod serve;
mod signals;
mod summary;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os().skip(1)) {
        Ok(command) => command,
        Err(error) => {
            eprintln!("ringsocket: {error}\nTry 'ringsocket --help' for more information.");
            return exit::invalid();
        }
    };
    match command {
        Command::Help => {
            print!("{}", cli::help());
            ExitCode::SUCCESS
        }
        Command::Version => {
            println!("ringsocket {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check(path) => check(&path),
        Command::Serve(options) => serve::run(&options),
    }
}

/// `--check`: validate, print the summary, exit 0; or list errors, exit 2.
fn check(path: &std::path::Path) -> ExitCode {
    match config::load_checked(path) {
        Ok(config) => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            print!("{}", summary::summary(&config, cpus));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            config::report(&errors);
            exit::invalid()
        }
    }
}
