//! The main job with no account and no network: starts a local stand-in of the speech API on
//! 127.0.0.1 (the same one the tests use: real status codes, headers and audio bytes) and runs
//! the real pipeline against it.
//!
//!     cargo run --release --example demo -- examples/alice-ch1.md -o demo-audio
//!
//! Any `run` flag may follow the manifest (`--audio-format wav`, `-o DIR`, `--rpm 600`, ...).
//! Interrupt it and run it again: it resumes, as a real run does.

#[path = "../tests/it/support/hearing.rs"]
mod hearing;
#[path = "../tests/it/support/server.rs"]
mod server;
#[path = "../tests/it/support/synth.rs"]
mod synth;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

const DEMO_KEY: &str = "sk-demo-local-only";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_none_or(|a| a.starts_with('-')) {
        args.insert(0, "examples/book.md".to_string());
    }
    let api = server::FakeApi::builder()
        .key(DEMO_KEY)
        .latency(Duration::from_millis(150))
        .ms_per_char(20)
        .start();
    let key_file = match write_key_file() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: cannot write the demo key file: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "demo: a local speech API is listening at {}",
        api.base_url()
    );
    let given = |flags: &[&str]| {
        args.iter().any(|a| {
            flags
                .iter()
                .any(|f| a == f || a.starts_with(&format!("{f}=")))
        })
    };
    let mut defaults: Vec<String> = Vec::new();
    if !given(&["--rpm"]) {
        defaults.extend(["--rpm".into(), "600".into()]);
    }
    if !given(&["-j", "--concurrency"]) {
        defaults.extend(["-j".into(), "8".into()]);
    }
    let mut argv = vec!["tts-batch".to_string(), "run".to_string()];
    argv.extend(args);
    let key_path = key_file.path().display().to_string();
    argv.extend([
        "--base-url".into(),
        api.base_url(),
        "--api-key-file".into(),
        key_path,
    ]);
    argv.extend(defaults);

    let code = tts_batch::main(tts_batch::cli::Cli::parse_from(argv));
    eprintln!("demo: the local API answered {} requests", api.count());
    ExitCode::from(code)
}

fn write_key_file() -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new()?;
    writeln!(file, "{DEMO_KEY}")?;
    Ok(file)
}
