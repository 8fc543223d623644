//! The `rs-load` command: parses the command line, runs the load, prints
//! the report. Exit status: 0 done, 1 the run failed (a connection error, a
//! byte that came back wrong), 2 a bad command line.

use std::process::ExitCode;

use rs_load::{Command, LoadError, Options, USAGE};

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Command::Run(options)) => options,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rs-load: {e}");
            return ExitCode::from(2);
        }
    };
    match rs_load::run(&options, &mut std::io::stdout()) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e @ LoadError::Usage(_)) => {
            eprintln!("rs-load: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("rs-load: {e}");
            ExitCode::FAILURE
        }
    }
}
