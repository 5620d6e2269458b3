//! Command line + job file → one validated [`Config`]. Nothing after this module sees clap or
//! TOML; every range and every path is checked here, before anything is read, written or sent.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

mod key;

use crate::book::BookFormat;
use crate::book::cover::Cover;
use crate::book::meta::BookFlags;
use crate::book::subtitles::SubtitleFormat;
use crate::cli::{InputFormatArg, JobArgs, QueueArgs};
use crate::domain::AudioFormat;
use crate::domain::{ESPEAK_MODEL, ProviderKind, VoiceSettings, check_speed, io_reason};
use crate::manifest::{InputFormat, ManifestOptions};
pub use key::{ApiKey, KeySource};

/// The API root used when neither a flag, a job file nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable that holds the key unless `--api-key-env` names another.
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";
/// The queue's file name inside `--out`.
pub const DB_FILE: &str = "tts-batch.db";
/// The longest input the API takes in one request.
pub const API_MAX_CHARS: u32 = 4096;
/// The longest `--pause-ms`: a minute of silence between two pieces of speech.
const MAX_PAUSE_MS: u32 = 60_000;
/// The rate used by `--rpm auto` until the server advertises its limit.
pub const AUTO_START_RPM: u32 = 50;

/// Requests per minute asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpm {
    Fixed(u32),
    /// Follow the limit the server advertises in `x-ratelimit-limit-requests`.
    Auto,
}

impl Rpm {
    /// The rate to plan with: the number, or the starting rate of `auto`.
    pub fn planned(self) -> u32 {
        match self {
            Rpm::Fixed(n) => n,
            Rpm::Auto => AUTO_START_RPM,
        }
    }
}

impl std::fmt::Display for Rpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rpm::Fixed(n) => write!(f, "{n}"),
            Rpm::Auto => f.write_str("auto"),
        }
    }
}

/// Bad flags, job file or environment. The message names the flag, key, file or value at fault;
/// nothing was read, written or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(message: impl std::fmt::Display) -> Self {
        ConfigError(message.to_string())
    }
}

/// Everything `run` and `plan` need, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The manifest (never the job file).
    pub input: PathBuf,
    pub manifest: ManifestOptions,
    pub out: PathBuf,
    pub db: PathBuf,
    /// The piece store, beside the queue (see [`pieces_dir`]).
    pub pieces: PathBuf,
    /// API root without a trailing slash.
    pub base_url: String,
    pub key_source: KeySource,
    /// Defaults of every item; CSV rows may override them.
    /// Who speaks. With espeak: no key, no pacing, no cost, and `voice.model` is
    /// [`ESPEAK_MODEL`].
    pub provider: ProviderKind,
    pub voice: VoiceSettings,
    /// Whether `--voice` (or the job file's `voice`) was given: if not, espeak speaks an EPUB
    /// in the voice of the book's language.
    pub voice_given: bool,
    pub concurrency: usize,
    pub rpm: Rpm,
    pub cpm: Option<u32>,
    pub max_attempts: u32,
    pub timeout: Duration,
    pub max_chars: usize,
    /// Silence between the pieces of an item, in milliseconds.
    pub pause_ms: u64,
    pub max_cost: Option<f64>,
    /// The audiobook outputs: tags, book file, subtitles (SPEC §8).
    pub book: BookOptions,
}

/// `--book`, `--title`, `--author`, `--narrator`, `--cover`, `--chapter-gap-ms`, `--subtitles`,
/// checked (the cover read and checked to be a picture). The defaults that depend on the
/// manifest are resolved by `book::meta::resolve`.
#[derive(Debug, Clone, Default)]
pub struct BookOptions {
    pub flags: BookFlags,
    pub format: Option<BookFormat>,
    pub chapter_gap_ms: u32,
    pub subtitles: Option<SubtitleFormat>,
    /// Write cover, `desc.txt`, `reader.txt` and `metadata.opf` beside the audio.
    pub sidecars: bool,
}

/// The longest `--chapter-gap-ms`: a minute of silence is already more than any player needs.
pub const MAX_CHAPTER_GAP_MS: u32 = 60_000;

/// `rpm` in a job file: a number or "auto".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RpmValue {
    Number(u32),
    Text(String),
}

/// Parses `--rpm`: a number of requests per minute, or `auto`.
fn parse_rpm(value: &str) -> Result<Rpm, ConfigError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("auto") {
        return Ok(Rpm::Auto);
    }
    let n: u32 = value.parse().map_err(|_| {
        ConfigError::new(format!(
            "--rpm: `{value}` is not a number of requests per minute or `auto`"
        ))
    })?;
    Ok(Rpm::Fixed(in_range("--rpm", n, 1, 1_000_000)?))
}

/// A job file: the long flag names as keys. Unknown keys are refused by name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct JobFile {
    input: Option<PathBuf>,
    out: Option<PathBuf>,
    db: Option<PathBuf>,
    base_url: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    provider: Option<String>,
    model: Option<String>,
    voice: Option<String>,
    audio_format: Option<String>,
    speed: Option<f64>,
    instructions: Option<String>,
    concurrency: Option<u32>,
    rpm: Option<RpmValue>,
    cpm: Option<u32>,
    max_attempts: Option<u32>,
    timeout: Option<u64>,
    max_chars: Option<u32>,
    pause_ms: Option<u32>,
    chapter_level: Option<u8>,
    text_column: Option<String>,
    id_column: Option<String>,
    max_cost: Option<f64>,
    book: Option<String>,
    title: Option<String>,
    author: Option<String>,
    narrator: Option<String>,
    cover: Option<PathBuf>,
    series: Option<String>,
    series_index: Option<toml::Value>,
    description: Option<String>,
    publisher: Option<String>,
    year: Option<u32>,
    no_sidecars: Option<bool>,
    chapter_gap_ms: Option<u32>,
    subtitles: Option<String>,
    input_format: Option<InputFormatArg>,
    read_code: Option<bool>,
    keep_front_matter: Option<bool>,
    allow_insecure_http: Option<bool>,
}

impl JobFile {
    /// Reads a job file; `input`, `out`, `db` and `api-key-file` become relative to its folder.
    fn load(path: &Path) -> Result<JobFile, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(format!("{}: {}", path.display(), io_reason(&e))))?;
        let mut job: JobFile = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim_end_matches('.').to_string();
            match line {
                Some(line) => ConfigError::new(format!("{}: line {line}: {msg}", path.display())),
                None => ConfigError::new(format!("{}: {msg}", path.display())),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |p: &mut Option<PathBuf>| {
            if let Some(p) = p.as_mut().filter(|p| p.is_relative()) {
                *p = base.join(&*p);
            }
        };
        rebase(&mut job.input);
        rebase(&mut job.out);
        rebase(&mut job.db);
        rebase(&mut job.api_key_file);
        rebase(&mut job.cover);
        if let Some(file) = job
            .description
            .as_mut()
            .and_then(|d| d.strip_prefix('@').map(str::to_owned))
            .filter(|f| Path::new(f).is_relative())
        {
            job.description = Some(format!("@{}", base.join(file).display()));
        }
        Ok(job)
    }
}

/// The book options of flags and job file (flags win); the cover is loaded and checked here, so
/// a bad one stops the run before anything is sent.
fn book_options(args: &JobArgs, job: &JobFile) -> Result<BookOptions, ConfigError> {
    let format = match args.book.clone().or_else(|| job.book.clone()) {
        Some(f) => Some(
            f.parse::<BookFormat>()
                .map_err(|e| ConfigError::new(format!("--book: {e}")))?,
        ),
        None => None,
    };
    let subtitles = match args.subtitles.clone().or_else(|| job.subtitles.clone()) {
        Some(f) => Some(
            f.parse::<SubtitleFormat>()
                .map_err(|e| ConfigError::new(format!("--subtitles: {e}")))?,
        ),
        None => None,
    };
    let chapter_gap_ms = in_range(
        "--chapter-gap-ms",
        args.chapter_gap_ms.or(job.chapter_gap_ms).unwrap_or(2000),
        0,
        MAX_CHAPTER_GAP_MS,
    )?;
    let cover = match args.cover.clone().or_else(|| job.cover.clone()) {
        Some(path) => Some(Arc::new(
            Cover::load(&path).map_err(|e| ConfigError::new(e.to_string()))?,
        )),
        None => None,
    };
    Ok(BookOptions {
        flags: BookFlags {
            title: non_empty("--title", args.title.clone().or_else(|| job.title.clone()))?,
            author: non_empty(
                "--author",
                args.author.clone().or_else(|| job.author.clone()),
            )?,
            narrator: non_empty(
                "--narrator",
                args.narrator.clone().or_else(|| job.narrator.clone()),
            )?,
            cover,
            series: non_empty(
                "--series",
                args.series.clone().or_else(|| job.series.clone()),
            )?,
            series_index: match args.series_index.clone().or_else(|| {
                job.series_index.as_ref().map(|v| match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(n) => n.to_string(),
                    // Neither text nor number: refused below by name.
                    other => other.type_str().to_owned(),
                })
            }) {
                Some(index) => Some(
                    crate::book::meta::series_index(&index)
                        .ok_or_else(|| {
                            ConfigError::new(format!(
                                "--series-index: `{index}` is not a number of the book in its series (1, 2, 1.5)"
                            ))
                        })?,
                ),
                None => None,
            },
            description: match args.description.clone().or_else(|| job.description.clone()) {
                Some(text) => Some(description(&text)?),
                None => None,
            },
            publisher: non_empty(
                "--publisher",
                args.publisher.clone().or_else(|| job.publisher.clone()),
            )?,
            year: match args.year.or(job.year) {
                Some(year) => Some(in_range("--year", year, 1, 9999)?),
                None => None,
            },
        },
        format,
        chapter_gap_ms,
        subtitles,
        sidecars: !(args.no_sidecars || job.no_sidecars.unwrap_or(false)),
    })
}

/// `--description`: the text, or `@FILE` for a file's (UTF-8) text; trimmed, not empty.
fn description(value: &str) -> Result<String, ConfigError> {
    let text = match value.strip_prefix('@') {
        Some(file) => {
            let bytes = std::fs::read(file).map_err(|e| {
                ConfigError::new(format!("--description: {file}: {}", io_reason(&e)))
            })?;
            String::from_utf8(bytes)
                .map_err(|_| ConfigError::new(format!("--description: {file}: not UTF-8 text")))?
        }
        None => value.to_owned(),
    };
    let text = text.trim().replace("\r\n", "\n");
    if text.is_empty() {
        return Err(ConfigError::new(format!(
            "--description: `{value}` is empty"
        )));
    }
    Ok(text)
}

/// The file a path names, as we tell it by extension.
enum InputKind {
    Job,
    Manifest(InputFormat),
}

fn input_kind(path: &Path, forced: Option<InputFormatArg>) -> Result<InputKind, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if ext.as_deref() == Some("toml") {
        return Ok(InputKind::Job);
    }
    if let Some(forced) = forced {
        return Ok(InputKind::Manifest(forced.into()));
    }
    match ext.as_deref() {
        Some("txt") | Some("text") => Ok(InputKind::Manifest(InputFormat::Lines)),
        Some("csv") => Ok(InputKind::Manifest(InputFormat::Csv)),
        Some("md") | Some("markdown") => Ok(InputKind::Manifest(InputFormat::Markdown)),
        Some("epub") => Ok(InputKind::Manifest(InputFormat::Epub)),
        Some(other) => Err(ConfigError::new(format!(
            "{}: unknown extension `.{other}` (use .txt, .csv, .md, .epub or .toml, or --input-format lines|csv|markdown|epub)",
            path.display()
        ))),
        None => Err(ConfigError::new(format!(
            "{}: no extension to tell the manifest kind (use --input-format lines|csv|markdown|epub)",
            path.display()
        ))),
    }
}

impl From<InputFormatArg> for InputFormat {
    fn from(f: InputFormatArg) -> Self {
        match f {
            InputFormatArg::Lines => InputFormat::Lines,
            InputFormatArg::Csv => InputFormat::Csv,
            InputFormatArg::Markdown => InputFormat::Markdown,
            InputFormatArg::Epub => InputFormat::Epub,
        }
    }
}

/// The default output folder of a manifest: `<stem>-audio` in the current directory.
fn default_out(manifest: &Path) -> PathBuf {
    let stem = manifest
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tts-batch".to_string());
    PathBuf::from(format!("{stem}-audio"))
}

/// Reads an environment variable; a seam so tests of this module need no process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, as an [`EnvLookup`].
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The folder that keeps piece audio, beside the queue: `tts-batch.db` → `tts-batch.pieces/`.
pub fn pieces_dir(db: &Path) -> PathBuf {
    db.with_extension("pieces")
}

impl Config {
    /// Builds the configuration of `run`/`plan` from flags, the job file they name, and the
    /// environment. Every error names the flag, key or value at fault.
    pub fn from_args(args: &JobArgs, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let (job, manifest_path, forced_format) = match input_kind(&args.input, args.input_format)?
        {
            InputKind::Job => {
                let job = JobFile::load(&args.input)?;
                let Some(input) = job.input.clone() else {
                    return Err(ConfigError::new(format!(
                        "{}: the job file has no `input` key",
                        args.input.display()
                    )));
                };
                let forced = args.input_format.or(job.input_format);
                (job, input, forced)
            }
            InputKind::Manifest(_) => (JobFile::default(), args.input.clone(), args.input_format),
        };
        let format = match input_kind(&manifest_path, forced_format)? {
            InputKind::Manifest(f) => f,
            InputKind::Job => {
                return Err(ConfigError::new(format!(
                    "{}: a job file cannot name another job file as its input",
                    manifest_path.display()
                )));
            }
        };

        let book = book_options(args, &job)?;
        let out = args
            .out
            .clone()
            .or(job.out)
            .unwrap_or_else(|| default_out(&manifest_path));
        let db = args
            .db
            .clone()
            .or(job.db)
            .unwrap_or_else(|| out.join(DB_FILE));

        let allow_insecure = args.allow_insecure_http || job.allow_insecure_http.unwrap_or(false);
        let base_url = args
            .base_url
            .clone()
            .or(job.base_url)
            .or_else(|| env("OPENAI_BASE_URL").filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = check_base_url(&base_url, allow_insecure)?;

        let key_source = match (args.api_key_file.clone(), args.api_key_env.clone()) {
            (Some(file), _) => KeySource::File(file),
            (None, Some(name)) => KeySource::Env(name),
            (None, None) => match (job.api_key_file, job.api_key_env) {
                (Some(file), _) => KeySource::File(file),
                (None, Some(name)) => KeySource::Env(name),
                (None, None) => KeySource::Env(DEFAULT_KEY_ENV.to_string()),
            },
        };
        if let KeySource::Env(name) = &key_source
            && (name.is_empty() || name.contains('='))
        {
            return Err(ConfigError::new(format!(
                "--api-key-env: `{name}` is not a variable name"
            )));
        }

        let provider = match args.provider.clone().or(job.provider) {
            Some(p) => p
                .parse::<ProviderKind>()
                .map_err(|e| ConfigError::new(format!("--provider: {e}")))?,
            None => ProviderKind::Openai,
        };
        let audio_format = match args.audio_format.clone().or(job.audio_format) {
            Some(f) => f
                .parse::<AudioFormat>()
                .map_err(|e| ConfigError::new(format!("--audio-format: {e}")))?,
            None => AudioFormat::Mp3,
        };
        let speed = args.speed.or(job.speed).unwrap_or(1.0);
        check_speed(speed).map_err(|e| ConfigError::new(format!("--speed: {e}")))?;
        let model = non_empty("--model", args.model.clone().or(job.model))?;
        let model = match provider {
            ProviderKind::Openai => model.unwrap_or_else(|| "tts-1".into()),
            // espeak-ng has no models: recording its own name keeps its audio apart from any
            // API's in fingerprints, prices and the report.
            ProviderKind::Espeak => ESPEAK_MODEL.into(),
        };
        if provider == ProviderKind::Espeak && audio_format == AudioFormat::Aac {
            return Err(ConfigError::new(
                "--audio-format: aac is not available with --provider espeak (no freely licensed AAC encoder to build in); use mp3, opus, flac or wav",
            ));
        }
        let voice = non_empty("--voice", args.voice.clone().or(job.voice))?;
        let voice_given = voice.is_some();
        let voice = voice.unwrap_or_else(|| "alloy".into());
        let instructions = args
            .instructions
            .clone()
            .or(job.instructions)
            .filter(|s| !s.trim().is_empty());

        // espeak-ng is CPU work on this machine: one piece per core keeps every core busy.
        let default_concurrency = match provider {
            ProviderKind::Openai => 4,
            ProviderKind::Espeak => std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(256).min(256)),
        };
        let concurrency = in_range(
            "--concurrency",
            args.concurrency
                .or(job.concurrency)
                .unwrap_or(default_concurrency),
            1,
            256,
        )?;
        let rpm = match (args.rpm.clone(), job.rpm) {
            (Some(flag), _) => parse_rpm(&flag)?,
            (None, Some(RpmValue::Number(n))) => Rpm::Fixed(in_range("--rpm", n, 1, 1_000_000)?),
            (None, Some(RpmValue::Text(t))) => parse_rpm(&t)
                .map_err(|e| ConfigError::new(format!("{}: {e}", args.input.display())))?,
            (None, None) => Rpm::Fixed(50),
        };
        let cpm = match args.cpm.or(job.cpm) {
            Some(c) => Some(in_range("--cpm", c, 1, u32::MAX)?),
            None => None,
        };
        let max_attempts = in_range(
            "--max-attempts",
            args.max_attempts.or(job.max_attempts).unwrap_or(6),
            1,
            100,
        )?;
        let timeout = args.timeout.or(job.timeout).unwrap_or(120);
        if !(1..=3600).contains(&timeout) {
            return Err(ConfigError::new(format!(
                "--timeout: {timeout} is out of range (1 to 3600 seconds)"
            )));
        }
        let max_chars = in_range(
            "--max-chars",
            args.max_chars.or(job.max_chars).unwrap_or(API_MAX_CHARS),
            1,
            API_MAX_CHARS,
        )?;
        let pause_ms = in_range(
            "--pause-ms",
            args.pause_ms.or(job.pause_ms).unwrap_or(0),
            0,
            MAX_PAUSE_MS,
        )?;
        let chapter_level = args.chapter_level.or(job.chapter_level);
        if let Some(level) = chapter_level
            && !(1..=6).contains(&level)
        {
            return Err(ConfigError::new(format!(
                "--chapter-level: {level} is out of range (1 to 6)"
            )));
        }
        let max_cost = args.max_cost.or(job.max_cost);
        if let Some(cost) = max_cost
            && !(cost.is_finite() && cost > 0.0)
        {
            return Err(ConfigError::new(format!(
                "--max-cost: {cost} is not a positive amount"
            )));
        }
        let text_column = non_empty(
            "--text-column",
            args.text_column.clone().or(job.text_column),
        )?
        .unwrap_or_else(|| "text".into());
        let id_column = non_empty("--id-column", args.id_column.clone().or(job.id_column))?
            .unwrap_or_else(|| "id".into());

        if book.format == Some(BookFormat::Mp3) && audio_format != AudioFormat::Mp3 {
            return Err(ConfigError::new(format!(
                "--book mp3 joins mp3 files, and --audio-format is {audio_format} (use --book m4b)"
            )));
        }

        Ok(Config {
            input: manifest_path,
            manifest: ManifestOptions {
                format,
                text_column,
                id_column,
                chapter_level,
                read_code: args.read_code || job.read_code.unwrap_or(false),
                keep_front_matter: args.keep_front_matter || job.keep_front_matter.unwrap_or(false),
            },
            out,
            pieces: pieces_dir(&db),
            db,
            base_url,
            key_source,
            provider,
            voice: VoiceSettings {
                model,
                voice,
                format: audio_format,
                speed,
                instructions,
            },
            voice_given,
            concurrency: concurrency as usize,
            rpm,
            cpm,
            max_attempts,
            timeout: Duration::from_secs(timeout),
            max_chars: max_chars as usize,
            pause_ms: u64::from(pause_ms),
            max_cost,
            book,
        })
    }
}

/// Where `status`, `report` and `retry` find the queue.
pub fn queue_location(args: &QueueArgs) -> Result<(PathBuf, PathBuf), ConfigError> {
    if let Some(db) = &args.db {
        let out = args
            .out
            .clone()
            .or_else(|| db.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        return Ok((db.clone(), out));
    }
    let Some(input) = &args.input else {
        return Err(ConfigError::new(
            "name the manifest or job file, or the queue with --db PATH",
        ));
    };
    let (out, db) = match input_kind(input, None) {
        Ok(InputKind::Job) => {
            let job = JobFile::load(input)?;
            let manifest = job.input.clone().unwrap_or_else(|| input.clone());
            let out = args
                .out
                .clone()
                .or(job.out)
                .unwrap_or_else(|| default_out(&manifest));
            let db = job.db.unwrap_or_else(|| out.join(DB_FILE));
            (out, db)
        }
        _ => {
            let out = args.out.clone().unwrap_or_else(|| default_out(input));
            (out.clone(), out.join(DB_FILE))
        }
    };
    Ok((db, out))
}

fn check_base_url(raw: &str, allow_insecure: bool) -> Result<String, ConfigError> {
    let url = reqwest::Url::parse(raw.trim())
        .map_err(|e| ConfigError::new(format!("--base-url: `{raw}` is not a URL ({e})")))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback || allow_insecure => {}
        "http" => {
            return Err(ConfigError::new(format!(
                "--base-url: `{raw}` is plain http to a host other than loopback; the key would travel in clear (use https, or --allow-insecure-http)"
            )));
        }
        other => {
            return Err(ConfigError::new(format!(
                "--base-url: `{raw}` has scheme `{other}`, expected https or http"
            )));
        }
    }
    if url.host().is_none() {
        return Err(ConfigError::new(format!("--base-url: `{raw}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            "--base-url: credentials in the URL are not allowed (use the API key)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(format!(
            "--base-url: `{raw}` must not have a query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn in_range(flag: &str, value: u32, min: u32, max: u32) -> Result<u32, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(format!(
            "{flag}: {value} is out of range ({min} to {max})"
        )))
    }
}

fn non_empty(flag: &str, value: Option<String>) -> Result<Option<String>, ConfigError> {
    match value {
        Some(v) if v.trim().is_empty() => {
            Err(ConfigError::new(format!("{flag}: the value is empty")))
        }
        Some(v) => Ok(Some(v.trim().to_string())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(input: &str) -> JobArgs {
        JobArgs {
            input: PathBuf::from(input),
            ..JobArgs::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_follow_the_spec() {
        let cfg = Config::from_args(&args("book.md"), &no_env).unwrap();
        assert_eq!(cfg.out, PathBuf::from("book-audio"));
        assert_eq!(cfg.db, PathBuf::from("book-audio/tts-batch.db"));
        assert_eq!(cfg.base_url, DEFAULT_BASE_URL);
        assert_eq!(cfg.voice.model, "tts-1");
        assert_eq!(cfg.voice.voice, "alloy");
        assert_eq!(cfg.voice.format, AudioFormat::Mp3);
        assert_eq!(
            (cfg.concurrency, cfg.rpm, cfg.cpm),
            (4, Rpm::Fixed(50), None)
        );
        assert_eq!((cfg.max_attempts, cfg.max_chars), (6, 4096));
        assert_eq!(cfg.timeout, Duration::from_secs(120));
        assert_eq!(cfg.key_source, KeySource::Env("OPENAI_API_KEY".into()));
        assert_eq!(cfg.manifest.format, InputFormat::Markdown);
    }

    #[test]
    fn base_url_comes_from_the_environment_and_plain_http_needs_loopback() {
        let env =
            |k: &str| (k == "OPENAI_BASE_URL").then(|| "https://relay.example/v1/".to_string());
        let cfg = Config::from_args(&args("a.txt"), &env).unwrap();
        assert_eq!(cfg.base_url, "https://relay.example/v1");
        for ok in [
            "http://127.0.0.1:8080/v1",
            "http://localhost/v1",
            "http://[::1]:9/v1",
        ] {
            assert!(check_base_url(ok, false).is_ok(), "{ok}");
        }
        let err = check_base_url("http://relay.example/v1", false).unwrap_err();
        assert!(err.to_string().contains("--allow-insecure-http"), "{err}");
        assert!(check_base_url("http://relay.example/v1", true).is_ok());
        assert!(check_base_url("not a url", false).is_err());
        assert!(check_base_url("ftp://x/v1", false).is_err());
    }

    #[test]
    fn out_of_range_values_name_the_flag() {
        let mut a = args("a.txt");
        a.speed = Some(5.0);
        assert!(
            Config::from_args(&a, &no_env)
                .unwrap_err()
                .to_string()
                .starts_with("--speed: 5")
        );
        let mut a = args("a.txt");
        a.max_chars = Some(5000);
        assert!(
            Config::from_args(&a, &no_env)
                .unwrap_err()
                .to_string()
                .starts_with("--max-chars: 5000")
        );
        let mut a = args("a.txt");
        a.concurrency = Some(0);
        assert!(
            Config::from_args(&a, &no_env)
                .unwrap_err()
                .to_string()
                .starts_with("--concurrency: 0")
        );
        let mut a = args("a.txt");
        a.audio_format = Some("ogg".into());
        assert!(
            Config::from_args(&a, &no_env)
                .unwrap_err()
                .to_string()
                .contains("`ogg`")
        );
        let err = Config::from_args(&args("a.docx"), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a.docx") && err.contains(".docx"), "{err}");
    }

    #[test]
    fn job_files_are_relative_to_themselves_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("book.toml");
        std::fs::write(
            &job,
            "input = \"book.md\"\nout = \"audio\"\nvoice = \"nova\"\nrpm = 20\n",
        )
        .unwrap();
        let mut a = args(job.to_str().unwrap());
        a.rpm = Some("10".into());
        let cfg = Config::from_args(&a, &no_env).unwrap();
        assert_eq!(cfg.input, dir.path().join("book.md"));
        assert_eq!(cfg.out, dir.path().join("audio"));
        assert_eq!(cfg.voice.voice, "nova");
        assert_eq!(cfg.rpm, Rpm::Fixed(10));
        let mut a = args(job.to_str().unwrap());
        a.rpm = Some("auto".into());
        assert_eq!(Config::from_args(&a, &no_env).unwrap().rpm, Rpm::Auto);
    }

    #[test]
    fn unknown_job_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(&job, "input = \"a.txt\"\n\nvoise = \"nova\"\n").unwrap();
        let err = Config::from_args(&args(job.to_str().unwrap()), &no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("voise") && err.contains("line 3"), "{err}");
    }

    #[test]
    fn the_key_is_read_but_never_shown() {
        let cfg = Config::from_args(&args("a.txt"), &no_env).unwrap();
        assert!(
            cfg.api_key(&no_env)
                .unwrap_err()
                .to_string()
                .contains("OPENAI_API_KEY")
        );
        let env = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-secret\n".to_string());
        let key = cfg.api_key(&env).unwrap();
        assert_eq!(key.expose(), "sk-secret");
        assert!(!format!("{key:?}").contains("secret"));
    }
}
