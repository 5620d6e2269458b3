//! The `tts-batch` binary: parse the command line, hand it to the library, exit with the status
//! it gives. The library's `main` starts logging and the runtime, runs the command and prints
//! its error; the demo example calls the same function.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    ExitCode::from(tts_batch::main(tts_batch::cli::Cli::parse()))
}
