//! The `tts-batch` binary: parse the command line, hand it to the library, exit with the status
//! it gives. Everything else is in the library (`run::main`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ExitCode::from(tts_batch::run::main(tts_batch::cli::Cli::parse()))
}
