//! The program for a parsed command line, and the commands other than `run` (which has its own
//! folder): `plan` (its JSON in `plan_json.rs`), `status`, `report`, `retry`, `verify`, `text`, and
//! `completions` and `man` (`generate.rs`). Each is thin: read the configuration, call the
//! stages in order, print.

mod generate;
mod plan;
mod plan_json;
mod plan_rows;
mod report;
mod retry;
mod status;
mod text;
mod verify;

use crate::cli::{Cli, Command};
use crate::config::{Config, env};
use crate::error::{Error, Outcome};

/// The whole program for a parsed command line: logging, the runtime, the command, and the
/// exit status (errors are printed here). `main.rs` and the demo both call it.
pub fn main(cli: Cli) -> u8 {
    crate::logging::init(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(execute(cli));
    if let Err(e) = &result {
        eprintln!("error: {e:#}");
    }
    // Workers still blocked on a hung request must not hold the exit.
    runtime.shutdown_background();
    crate::error::exit_code(&result)
}

/// Runs the command the command line names.
async fn execute(cli: Cli) -> Result<Outcome, Error> {
    let quiet = cli.log.quiet > 0;
    match cli.command {
        Command::Run(args) => crate::run::run(Config::from_args(&args, &env)?, quiet).await,
        Command::Plan(args) => plan::plan(Config::from_args(&args.job, &env)?, args.json),
        Command::Status(args) => status::status(&args),
        Command::Report(args) => report::report(&args, quiet),
        Command::Retry(args) => retry::retry(&args, quiet),
        Command::Verify(args) => verify::verify(&args, quiet).await,
        Command::Text(args) => text::text(Config::from_args(&args.job, &env)?, &args),
        Command::Completions(args) => generate::completions(args.shell),
        Command::Man => generate::man(),
    }
}
