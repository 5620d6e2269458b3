//! The command line, as clap types. Their doc comments are the `--help` text; nothing here
//! validates beyond types (that is `config.rs`), so a job file and a flag are checked alike.

use crate::domain::{REALTIME_MODEL, REALTIME_VOICE};
use std::ffi::OsStr;
use std::fmt::Display;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::str::FromStr;

use clap::builder::{PossibleValue, TypedValueParser};
use clap::error::ErrorKind;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::settings::*;

/// Turn a manifest of text (lines, CSV rows, Markdown or EPUB chapters) into audio files through an
/// OpenAI-compatible text-to-speech API, as a resumable, rate-limited batch job.
#[derive(Debug, Parser)]
#[command(
    name = "tts-batch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    #[command(flatten)]
    pub log: LogArgs,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Process the manifest: every item becomes one audio file. Re-running resumes.
    Run(JobArgs),
    /// Dry run: items, pieces, characters, requests, estimated cost and time. Sends nothing,
    /// writes nothing.
    Plan(PlanArgs),
    /// Counts per state, progress and recent errors of a queue.
    Status(StatusArgs),
    /// Rewrite report.json and report.csv from the queue, or print the report with --format.
    Report(ReportArgs),
    /// Put failed items back to pending, so that the next run tries them again.
    Retry(RetryArgs),
    /// Hear the done items of a queue back through a transcription endpoint and score each
    /// piece against its text, without speaking anything again (--fix: re-request the pieces
    /// over --max-wer). Takes the options of `run`; --verify is implied.
    ///
    /// With --db PATH and no INPUT it hears the queue alone (no manifest is read; the report
    /// goes beside the queue, or to --out); --fix then needs INPUT.
    #[command(mut_arg("input", |a| a
        .required(false)
        .required_unless_present("db")
        .default_value(QUEUE_ONLY)
        .hide_default_value(true)))]
    Verify(VerifyArgs),
    /// Print exactly the text each item sends, piece by piece, after every rule and the
    /// lexicon. Sends nothing, writes nothing (but --dir), needs no key.
    #[command(
        after_help = "On stdout each item starts with a line `=== KEY: TITLE ===`; its pieces follow,
separated by a line holding only `---`. With --dir, DIR/<key>.txt holds one item's pieces."
    )]
    Text(TextArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Install it where the shell looks:
  tts-batch completions bash > ~/.local/share/bash-completion/completions/tts-batch
  tts-batch completions zsh > ~/.zfunc/_tts-batch   (with fpath+=(~/.zfunc) before compinit)
  tts-batch completions fish > ~/.config/fish/completions/tts-batch.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), generated from these same definitions.
    #[command(after_help = "Install it where man looks:
  mkdir -p ~/.local/share/man/man1 && tts-batch man > ~/.local/share/man/man1/tts-batch.1")]
    Man,
}

/// Logging options, accepted anywhere on the command line. Listed last in every command's help,
/// under their own heading (as globals they would otherwise sit among the command's options).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Output")]
pub struct LogArgs {
    /// More log output (-v debug, -vv trace). RUST_LOG, when set, wins.
    #[arg(short, long, action = ArgAction::Count, global = true, display_order = 1000)]
    pub verbose: u8,

    /// Quiet: nothing on success; one line per failed item, or one saying why a run stopped.
    #[arg(short, long, action = ArgAction::Count, global = true, conflicts_with = "verbose", display_order = 1001)]
    pub quiet: u8,

    /// Log format on stderr.
    #[arg(
        long,
        value_parser = NamedParser::<LogFormat>::new(),
        global = true,
        value_name = "FORMAT",
        display_order = 1002
    )]
    pub log_format: Option<LogFormat>,
}

/// The options of `run` and `plan`, and the job file's keys: one schema. A job file may set
/// each option under its long name (`input` names the manifest there); flags given here win
/// over the job file. A new option is one field here; its default is a constant in
/// `settings.rs`, and `config` checks it.
#[derive(Debug, Args, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobArgs {
    /// A manifest (.txt, .csv, .md, .markdown, .epub) or a job file (.toml).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// Where audio, report and queue go [default: <manifest stem>-audio]
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// The SQLite queue [default: <out>/tts-batch.db]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[arg(long, value_name = "URL", help = format!(
        "API root [default: $OPENAI_BASE_URL, else {DEFAULT_BASE_URL}]"
    ))]
    pub base_url: Option<String>,

    #[arg(long, value_name = "NAME", conflicts_with = "api_key_file", help = format!(
        "Environment variable that holds the API key [default: {DEFAULT_KEY_ENV}]"
    ))]
    pub api_key_env: Option<String>,

    /// File that holds the API key (its first line)
    #[arg(long, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,

    #[arg(long, value_name = "P", value_parser = NamedParser::<ProviderKind>::new(), help = format!(
        "Who speaks: `openai` (any OpenAI-compatible API), `realtime` (OpenAI's Realtime API \
         over a WebSocket: each piece read verbatim and checked against its transcript, billed \
         per token), `espeak` (the espeak-ng program) or `piper` (the piper program, a neural \
         voice); espeak and piper are offline, free, need no key, -j defaults to the number of \
         cores, and --rpm, --cpm and --model do not apply [default: \
         {DEFAULT_PROVIDER}; from 2027-01-06, realtime for a new queue at api.openai.com with \
         no --model]"
    ))]
    pub provider: Option<ProviderKind>,

    /// Where --provider piper finds voices by name (a voice is NAME.onnx with its
    /// NAME.onnx.json) [default: $PIPER_VOICES, else the data folder's piper/voices]
    #[arg(long, value_name = "DIR")]
    pub piper_voices: Option<PathBuf>,

    #[arg(long, value_name = "M", help = format!(
        "Model [default: {DEFAULT_MODEL}; with --provider realtime, {REALTIME_MODEL}; not used \
         with --provider espeak or piper]"
    ))]
    pub model: Option<String>,

    #[arg(long, value_name = "V", help = format!(
        "Voice [default: {DEFAULT_VOICE}; with --provider realtime, {REALTIME_VOICE}]. With \
         --provider espeak: an espeak voice (en-us, \
         en-gb, cmn, fr, ..., optionally +variant such as en-us+f3; `espeak-ng --voices` lists \
         them), or an OpenAI voice name, which maps to an English voice; an EPUB's language \
         picks the default. With --provider piper: a voice's .onnx file, or its name in \
         --piper-voices"
    ))]
    pub voice: Option<String>,

    #[arg(long, value_name = "F", value_parser = NamedParser::<AudioFormat>::new(), help = format!(
        "Audio format [default: {DEFAULT_AUDIO_FORMAT}]"
    ))]
    pub audio_format: Option<AudioFormat>,

    #[arg(long, value_name = "X", help = format!(
        "Speed, 0.25 to 4.0 [default: {DEFAULT_SPEED:.1}]"
    ))]
    pub speed: Option<f64>,

    /// Voice direction (sent to gpt-4o-mini-tts models only)
    #[arg(long, value_name = "TEXT")]
    pub instructions: Option<String>,

    #[arg(short = 'j', long, value_name = "N", help = format!(
        "Requests in flight at once [default: {DEFAULT_CONCURRENCY}; with --provider espeak \
         or piper, the number of cores]"
    ))]
    pub concurrency: Option<u32>,

    #[arg(long, value_name = "N|auto", value_parser = RpmParser, help = format!(
        "Requests per minute, shared by all workers, or `auto` to follow the limit the server \
         advertises [default: {DEFAULT_RPM}]"
    ))]
    pub rpm: Option<Rpm>,

    /// Input characters per minute, shared by all workers [default: no limit]
    #[arg(long, value_name = "N")]
    pub cpm: Option<u32>,

    #[arg(long, value_name = "N", help = format!(
        "Attempts per request before the item fails [default: {DEFAULT_MAX_ATTEMPTS}]"
    ))]
    pub max_attempts: Option<u32>,

    #[arg(long, value_name = "SECS", help = format!(
        "Seconds allowed for one request, body included [default: {DEFAULT_TIMEOUT_SECS}]"
    ))]
    pub timeout: Option<u64>,

    #[arg(long, value_name = "N", help = format!(
        "Longest text in one request; longer items are split [default: {API_MAX_CHARS}]"
    ))]
    pub max_chars: Option<u32>,

    #[arg(long, value_name = "N", help = format!(
        "Milliseconds of silence between the pieces of an item (0 to {MAX_PAUSE_MS}) \
         [default: {DEFAULT_PAUSE_MS}]"
    ))]
    pub pause_ms: Option<u32>,

    /// Markdown heading level that starts a chapter [default: auto]
    #[arg(long, value_name = "N")]
    pub chapter_level: Option<u8>,

    #[arg(long, value_name = "NAME", help = format!(
        "CSV column that holds the text [default: {DEFAULT_TEXT_COLUMN}]"
    ))]
    pub text_column: Option<String>,

    #[arg(long, value_name = "NAME", help = format!(
        "CSV column that holds the item key [default: {DEFAULT_ID_COLUMN}]"
    ))]
    pub id_column: Option<String>,

    /// Stop before the estimated spend of this run would pass this many US dollars
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,

    /// Also write the whole book as one file with chapter marks: m4b (AAC, made with ffmpeg) or
    /// mp3 [default: none]
    #[arg(long, value_name = "FORMAT", value_parser = NamedParser::<BookFormat>::new())]
    pub book: Option<BookFormat>,

    /// Book title: the album of every file and the book file's name [default: the EPUB's
    /// title, the Markdown title heading, else the manifest's file name]
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,

    /// Author, tagged as the artist of every file [default: the EPUB's authors]
    #[arg(long, value_name = "NAME")]
    pub author: Option<String>,

    /// Narrator, tagged as the composer (Audiobookshelf reads it as the narrator)
    #[arg(long, value_name = "NAME")]
    pub narrator: Option<String>,

    /// Cover picture (JPEG or PNG) embedded in every file's tags and the book file [default:
    /// the EPUB's cover]
    #[arg(long, value_name = "PATH")]
    pub cover: Option<PathBuf>,

    /// Series the book belongs to [default: the EPUB's calibre or EPUB 3 series, the front
    /// matter's `series`]
    #[arg(long, value_name = "NAME")]
    pub series: Option<String>,

    /// The book's number in its series (2, 1.5) [default: the EPUB's or front matter's]
    #[arg(long, value_name = "N")]
    #[serde(deserialize_with = "text_or_number")]
    pub series_index: Option<String>,

    /// Description of the book, or @FILE to read it from a file [default: the EPUB's
    /// description, the front matter's `description`]
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// Publisher [default: the EPUB's]
    #[arg(long, value_name = "NAME")]
    pub publisher: Option<String>,

    /// Year of publication [default: the year of the EPUB's or front matter's date]
    #[arg(long, value_name = "YYYY")]
    pub year: Option<u32>,

    /// Do not write cover.jpg|png, desc.txt, reader.txt and metadata.opf beside the audio
    #[arg(long)]
    pub no_sidecars: bool,

    #[arg(long, value_name = "N", help = format!(
        "Silence between chapters in the book file, in milliseconds [default: \
         {DEFAULT_CHAPTER_GAP_MS}]"
    ))]
    pub chapter_gap_ms: Option<u32>,

    /// Write a subtitle file beside each audio file and the book file: srt or vtt
    #[arg(long, value_name = "FORMAT", value_parser = NamedParser::<SubtitleFormat>::new())]
    pub subtitles: Option<SubtitleFormat>,

    /// Treat INPUT as this kind of manifest, whatever its extension
    #[arg(long, value_name = "KIND", value_parser = NamedParser::<InputFormat>::new())]
    pub input_format: Option<InputFormat>,

    /// Read fenced and indented code blocks of Markdown aloud instead of skipping them
    #[arg(long)]
    pub read_code: bool,

    /// EPUB: also read the front and back matter left out by default (cover, title page,
    /// contents, copyright, colophon, licence, index, endnotes)
    #[arg(long)]
    pub keep_front_matter: bool,

    /// Allow a plain http:// base URL to a host other than loopback (the key travels in clear)
    #[arg(long)]
    pub allow_insecure_http: bool,

    /// Hear every piece back through POST {verify base URL}/audio/transcriptions and score its
    /// transcript against its text; over --max-wer the piece is requested once more
    #[arg(long, help_heading = "Verification")]
    pub verify: bool,

    /// Transcription API root [default: --base-url]
    #[arg(long, value_name = "URL", help_heading = "Verification")]
    pub verify_base_url: Option<String>,

    /// Transcription model; a local Whisper server takes its own name [default:
    /// gpt-4o-mini-transcribe]
    #[arg(long, value_name = "M", help_heading = "Verification")]
    pub verify_model: Option<String>,

    /// Environment variable that holds the transcription API's key [default: the speech key;
    /// none for a loopback server]
    #[arg(long, value_name = "NAME", help_heading = "Verification")]
    pub verify_api_key_env: Option<String>,

    /// Share of pieces heard back, 0 to 1 (the same pieces on every run) [default: 1]
    #[arg(long, value_name = "F", help_heading = "Verification")]
    pub verify_sample: Option<f64>,

    /// Fail an item whose piece is still over --max-wer after one more request, instead of
    /// keeping it with a warning
    #[arg(long, help_heading = "Verification")]
    pub verify_strict: bool,

    #[arg(long, value_name = "X", help_heading = "Verification", help = format!(
        "Word error rate (character error rate for CJK) over which a transcript does not \
         match its text [default: {}, measured: README \"Verification\"]",
        DEFAULT_MAX_WER
    ))]
    pub max_wer: Option<f64>,

    /// Pronunciation lexicon (TOML): `[replace]` maps words or phrases, matched as whole words
    /// as written, to what to say instead; `[replace_any_case]` does the same ignoring case
    #[arg(long, value_name = "FILE")]
    pub lexicon: Option<PathBuf>,
}

/// Options of `verify`.
#[derive(Debug, Args, Clone, Default)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub job: JobArgs,

    /// Request again the pieces whose transcript is over --max-wer, and rewrite their items.
    #[arg(long)]
    pub fix: bool,
}

/// A job-file value that may be written as text or as a number (`series-index = 2`), as text.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Integer(i64),
        Float(f64),
    }
    Ok(Option::<TextOrNumber>::deserialize(d)?.map(|v| match v {
        TextOrNumber::Text(s) => s,
        TextOrNumber::Integer(n) => n.to_string(),
        TextOrNumber::Float(n) => n.to_string(),
    }))
}

/// INPUT of `verify` when only `--db` names the queue: a NUL, which no path given can hold.
pub const QUEUE_ONLY: &str = "\0";

/// Options of `plan`.
#[derive(Debug, Args, Clone, Default)]
pub struct PlanArgs {
    #[command(flatten)]
    pub job: JobArgs,

    /// Print the plan as one JSON document (totals, settings, items) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `text`.
#[derive(Debug, Args, Clone, Default)]
pub struct TextArgs {
    #[command(flatten)]
    pub job: JobArgs,

    /// Only these items (by key); repeat for several.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,

    /// Write one DIR/<key>.txt per item instead of printing.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where a queue is: a manifest or job file (its default `--out`), or `--db` itself.
#[derive(Debug, Args, Clone, Default)]
pub struct QueueArgs {
    /// The manifest or job file the queue was made from.
    #[arg(value_name = "INPUT", required_unless_present = "db")]
    pub input: Option<PathBuf>,

    /// The output directory, if not the default of INPUT.
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// The SQLite queue itself.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

/// Options of `status`.
#[derive(Debug, Args, Clone, Default)]
pub struct StatusArgs {
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Print the status as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Options of `report`.
#[derive(Debug, Args, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Print the report to stdout in this format instead of rewriting the files.
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<ReportFormat>,
}

/// A report's rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Json,
    Csv,
    Md,
}

/// Options of `retry`.
#[derive(Debug, Args, Clone)]
pub struct RetryArgs {
    #[command(flatten)]
    pub queue: QueueArgs,

    /// Only these items (by key); repeat for several.
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
}

/// Options of `completions`.
#[derive(Debug, Args, Clone)]
pub struct CompletionsArgs {
    /// The shell to print the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The parser of a [`Named`] setting: its names go to `--help`, the manual and the shell
/// completions; a word that names nothing is refused with the setting's own message, after the
/// flag's name.
#[derive(Clone, Copy, Debug)]
pub struct NamedParser<T>(PhantomData<T>);

impl<T> NamedParser<T> {
    pub const fn new() -> Self {
        NamedParser(PhantomData)
    }
}

impl<T> Default for NamedParser<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Named + Send + Sync> TypedValueParser for NamedParser<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let flag = arg
            .and_then(clap::Arg::get_long)
            .map_or_else(String::new, |long| format!("--{long}: "));
        parse(cmd, value, &flag)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(
            T::ALL
                .iter()
                .map(|value| PossibleValue::new(value.as_str())),
        ))
    }
}

/// The parser of `--rpm`: its errors name the flag already.
#[derive(Clone, Copy, Debug)]
pub struct RpmParser;

impl TypedValueParser for RpmParser {
    type Value = Rpm;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Rpm, clap::Error> {
        parse(cmd, value, "")
    }
}

/// A setting's value parsed by its own `FromStr`; a refused one is one line after `prefix`, exit
/// code 2 (clap's for usage errors).
fn parse<T: FromStr<Err: Display>>(
    cmd: &clap::Command,
    value: &OsStr,
    prefix: &str,
) -> Result<T, clap::Error> {
    value.to_string_lossy().parse::<T>().map_err(|e| {
        clap::Error::raw(ErrorKind::InvalidValue, format!("{prefix}{e}\n")).with_cmd(cmd)
    })
}
