//! Shell conventions: `completions SHELL` prints a completion script and `man` a manual page,
//! both generated from the same clap definitions as `--help`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::*;

/// Every command a user can type.
const COMMANDS: &[&str] = &[
    "run",
    "plan",
    "status",
    "report",
    "retry",
    "completions",
    "man",
];

/// The binary's stdout for `args`; asserts exit 0 and an empty stderr.
#[track_caller]
fn stdout_of(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.run(args);
    assert_exit(&out, 0);
    assert_eq!(out.stderr, "", "{args:?}");
    out.stdout
}

/// Whether a program can be started (`PROGRAM --version`).
fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

#[test]
fn completions_for_each_shell_name_every_command() {
    let ws = Workspace::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_of(&ws, &["completions", shell]);
        assert!(script.len() > 1000, "{shell}: a real script");
        for cmd in COMMANDS {
            assert!(script.contains(cmd), "{shell}: no `{cmd}` in the script");
        }
        // fish spells flags without their dashes (`-l max-chars`).
        for flag in ["max-chars", "audio-format", "json"] {
            assert!(script.contains(flag), "{shell}: no `{flag}` in the script");
        }
    }
    let out = ws.run(&["completions", "tcsh"]);
    assert_exit(&out, 2);
}

#[test]
fn the_bash_completion_script_parses() {
    assert!(have("bash"), "bash is needed for this test");
    let ws = Workspace::new();
    let script = ws.write("tts-batch.bash", stdout_of(&ws, &["completions", "bash"]));
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What bash offers after `tts-batch <command> <words...>`, through the generated script's own
/// completion function (as pressing Tab does).
fn bash_offers(ws: &Workspace, words: &[&str]) -> Vec<String> {
    let script = ws.write("tts-batch.bash", stdout_of(ws, &["completions", "bash"]));
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let probe = format!(
        "source '{}'\nCOMP_WORDS=(tts-batch {})\nCOMP_CWORD=${{#COMP_WORDS[@]}}\n\
         COMP_WORDS+=('')\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n\
         _tts__batch tts-batch '' \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        words.join(" ")
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(probe)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_the_values_of_every_enumerated_option() {
    assert!(have("bash"), "bash is needed for this test");
    let ws = Workspace::new();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["run", "a.txt", "--audio-format"],
            &["mp3", "opus", "aac", "flac", "wav", "pcm"],
        ),
        (
            &["plan", "a.txt", "--provider"],
            &["openai", "espeak", "piper", "realtime"],
        ),
        (&["run", "a.txt", "--book"], &["m4b", "mp3"]),
        (&["run", "a.txt", "--subtitles"], &["srt", "vtt"]),
        (
            &["run", "a.txt", "--input-format"],
            &["lines", "csv", "markdown", "epub"],
        ),
        (&["status", "a.txt", "--log-format"], &["text", "json"]),
    ];
    for (words, values) in cases {
        assert_eq!(bash_offers(&ws, words), *values, "{words:?}");
    }
}

#[test]
fn the_man_page_is_roff_with_every_command_and_its_options() {
    let ws = Workspace::new();
    let page = stdout_of(&ws, &["man"]);
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with(".TH ")).count(),
        1,
        "one title"
    );
    assert!(lines.iter().any(|l| l.starts_with(".TH tts-batch 1 ")));
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH COMMANDS",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(lines.contains(&section), "no `{section}`");
    }
    for cmd in COMMANDS {
        let heading = format!(".SS \"tts-batch {cmd}\"");
        assert!(lines.contains(&heading.as_str()), "no `{heading}`");
    }
    // Every line is text or a request; roff's preamble appears once.
    assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble (.ie/.el)");

    // Rendered by man(1) where it is installed (it is on Debian and in CI), and checked for
    // groff's warnings.
    if have("man") {
        let mut child = Command::new("man")
            .args(["--warnings", "-l", "-"])
            .env("MANWIDTH", "100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run man");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(page.as_bytes())
            .expect("write the page");
        let out = child.wait_with_output().expect("man ends");
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "roff warnings");
        let text = String::from_utf8_lossy(&out.stdout);
        for cmd in COMMANDS {
            assert!(
                text.contains(&format!("tts-batch {cmd}")),
                "rendered page lacks `tts-batch {cmd}`"
            );
        }
        for flag in ["--max-chars", "--json", "--quiet", "--format"] {
            assert!(text.contains(flag), "rendered page lacks `{flag}`");
        }
    } else {
        for flag in ["\\-\\-max\\-chars", "\\-\\-json", "\\-\\-quiet"] {
            assert!(page.contains(flag), "page lacks `{flag}`");
        }
    }
}
