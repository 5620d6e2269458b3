//! The `tts-batch` binary: parse the command line, run the command, turn the result into an
//! exit status. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

use tts_batch::cli::Cli;
use tts_batch::error::exit_code;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tts_batch::logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(tts_batch::app::execute(cli));
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    // Workers still blocked on a hung request must not hold the exit.
    runtime.shutdown_background();
    ExitCode::from(exit_code(&result))
}
