//! `completions` and `man`: shell completion scripts (clap_complete) and the manual page
//! (clap_mangen), both generated from the clap definitions in `cli.rs`, so they cannot drift
//! from `--help`. Like ripgrep's `--generate` and fd's `--gen-completions`, the program prints
//! them itself rather than shipping generated files; here they are subcommands, because
//! tts-batch is a program of subcommands (as `rustup completions` is).

use std::io::Write;

use clap::CommandFactory;
use clap_mangen::Man;
use roff::{Roff, bold, roman};

use crate::cli::Cli;
use crate::error::{Error, Outcome};

/// The exit statuses, as `error::exit_code` gives them, for the manual page.
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "Every item is done (or the command did what it was asked).",
    ),
    (
        "1",
        "The run finished, and some items failed (see the report); failed items stay failed until retry.",
    ),
    (
        "2",
        "Usage, configuration or manifest error: nothing was sent and nothing written.",
    ),
    (
        "3",
        "Stopped early and resumable: a signal, --max-cost reached, the API refused the key or quota, or the disk refused a write.",
    ),
    ("4", "Another run holds this queue."),
];

/// `completions SHELL`: the completion script on stdout.
pub(super) fn completions(shell: clap_complete::Shell) -> Result<Outcome, Error> {
    let mut cmd = Cli::command();
    // Generated into memory first: the generator panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "tts-batch", &mut script);
    if shell == clap_complete::Shell::Bash {
        script = mend_bash_arms(&script);
    }
    print(&script, "the completion script")
}

/// clap_complete's bash script spells a subcommand's state two ways when the program's name
/// has a hyphen: the loop that reads the words reaches `tts__batch__subcmd__run`, the `case`
/// arms say `tts__subcmd__batch__subcmd__run`, so nothing after a subcommand ever completed
/// (clap-rs/clap#6421, open). The arms are respelt the loop's way.
fn mend_bash_arms(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("tts__subcmd__batch__subcmd__", "tts__batch__subcmd__")
        .into_bytes()
}

/// `man`: the manual page (roff) on stdout.
pub(super) fn man() -> Result<Outcome, Error> {
    let page = man_page().map_err(|e| Error::Other(e.into()))?;
    print(page.as_bytes(), "the manual page")
}

fn print(bytes: &[u8], what: &str) -> Result<Outcome, Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot print {what}: {e}")))?;
    Ok(Outcome::Done)
}

/// One page for the whole program: the head clap_mangen makes for `tts-batch` (name,
/// synopsis, description, the global options), then a subsection per command with its own
/// synopsis, description and options, then the exit statuses. One page rather than a page per
/// command (`tts-batch-run.1`, ...), so `tts-batch man > tts-batch.1` installs all of it.
fn man_page() -> std::io::Result<String> {
    let mut root = Cli::command();
    root.build();
    // Each fragment clap_mangen or roff renders starts with roff's preamble (the apostrophe
    // string); the page has it once, at the top.
    let preamble = Roff::new().render();
    let mut page = String::new();
    let head = Man::new(root.clone());
    page += &fragment(|w| head.render_title(w))?;
    page += &fragment(|w| head.render_name_section(w))?;
    page += &fragment(|w| head.render_synopsis_section(w))?;
    page += &fragment(|w| head.render_description_section(w))?;
    page += &fragment(|w| head.render_options_section(w))?;

    let commands: Vec<&clap::Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    let mut list = Roff::new();
    list.control("SH", ["COMMANDS"]);
    for cmd in &commands {
        list.control("TP", []);
        list.text([bold(format!("tts-batch {}", cmd.get_name()))]);
        if let Some(about) = cmd.get_about() {
            list.text([roman(about.to_string())]);
        }
    }
    page += &list.render();

    for cmd in commands {
        // The global options are in OPTIONS above; each command lists only its own.
        let own = cmd
            .clone()
            .mut_args(|a| if a.is_global_set() { a.hide(true) } else { a });
        let man = Man::new(own);
        let mut heading = Roff::new();
        heading.control("SS", [format!("tts-batch {}", cmd.get_name()).as_str()]);
        page += &heading.render();
        let parts = fragment(|w| man.render_synopsis_section(w))?
            + &fragment(|w| man.render_description_section(w))?
            + &fragment(|w| man.render_options_section(w))?;
        // Its sections become paragraphs of the subsection.
        for line in parts.lines() {
            match line {
                ".SH SYNOPSIS" => {}
                ".SH DESCRIPTION" => page += ".PP\n",
                ".SH OPTIONS" => page += ".PP\nOptions:\n",
                _ => {
                    page += line;
                    page.push('\n');
                }
            }
        }
    }

    let mut tail = Roff::new();
    tail.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        tail.control("TP", []);
        tail.text([bold(*code)]);
        tail.text([roman(*meaning)]);
    }
    page += &tail.render();
    page += &fragment(|w| head.render_version_section(w))?;
    Ok(format!("{preamble}{}", page.replace(&preamble, "")))
}

/// What one of clap_mangen's renderers writes, as text.
fn fragment(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> std::io::Result<String> {
    let mut bytes = Vec::new();
    render(&mut bytes)?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}
