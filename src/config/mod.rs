//! Command line + job file → one validated [`Config`]. Nothing after this module sees clap or
//! TOML; every range and every path is checked here, before anything is read, written or sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod key;

use crate::cli::{JobArgs, QueueArgs};
use crate::domain::{ESPEAK_MODEL, PIPER_MODEL, VoiceSettings, check_speed, io_reason};
use crate::domain::{REALTIME_MODEL, REALTIME_SPEEDS, REALTIME_VOICE};
use crate::manifest::ManifestOptions;
use crate::settings::*;
pub use key::{ApiKey, KeySource};

/// The queue's file name inside `--out`.
pub const DB_FILE: &str = "tts-batch.db";

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
    /// `--piper-voices`: where `--provider piper` looks voice names up (before
    /// `$PIPER_VOICES` and the platform's data folder).
    pub piper_voices: Option<PathBuf>,
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
    /// Hearing pieces back (SPEC §11).
    pub verify: VerifyOptions,
    /// `--max-wer`: the word error rate over which a transcript does not match its text (the
    /// realtime voice's verbatim check and `--verify` both use it).
    pub max_wer: f64,
}

/// `--verify` and its options, checked.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub enabled: bool,
    /// Transcription API root, without a trailing slash.
    pub base_url: String,
    pub model: String,
    /// Where the transcription key is read: `--verify-api-key-env`, else the speech key's place.
    pub key_source: KeySource,
    /// A loopback server needs no key: when none is found, none is sent.
    pub key_optional: bool,
    /// Share of pieces heard back, in (0, 1].
    pub sample: f64,
    pub strict: bool,
}

/// The default `--verify-model`.
pub const DEFAULT_VERIFY_MODEL: &str = "gpt-4o-mini-transcribe";

/// Reads a job file: the options under their long names, `input` naming the manifest.
/// `input`, `out`, `db`, `api-key-file`, `cover`, `lexicon`, `piper-voices` and a `description`
/// given as `@FILE` become relative to the job file's folder.
fn load_job(path: &Path) -> Result<JobArgs, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(format!("{}: {}", path.display(), io_reason(&e))))?;
    let mut job: JobArgs = toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let msg = e.message().trim_end_matches('.').to_string();
        match line {
            // A value a setting's own parser refused names its flag: the file, then the flag.
            Some(line) if msg.starts_with("--") => {
                ConfigError::new(format!("{}: {msg} (line {line})", path.display()))
            }
            Some(line) => ConfigError::new(format!("{}: line {line}: {msg}", path.display())),
            None => ConfigError::new(format!("{}: {msg}", path.display())),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let rebase = |p: &mut PathBuf| {
        if p.is_relative() && !p.as_os_str().is_empty() {
            *p = base.join(&*p);
        }
    };
    rebase(&mut job.input);
    for p in [
        &mut job.out,
        &mut job.db,
        &mut job.api_key_file,
        &mut job.cover,
        &mut job.piper_voices,
        &mut job.lexicon,
    ] {
        p.as_mut().map(rebase);
    }
    // `description = "@blurb.txt"` names a file beside the job file, as paths do.
    if let Some(file) = job
        .description
        .as_deref()
        .and_then(|d| d.strip_prefix('@'))
        .filter(|f| Path::new(f).is_relative())
    {
        job.description = Some(format!("@{}", base.join(file).display()));
    }
    Ok(job)
}

/// The options of a job file with the flags given on top: a flag given wins, one left out
/// (`None`, or a switch not given) leaves the job file's value. Done on the options' serde form,
/// so that a new option needs no line here.
fn layered(flags: &JobArgs, job: JobArgs) -> Result<JobArgs, ConfigError> {
    let not_text = |e: serde_json::Error| {
        ConfigError::new(format!(
            "{}: a flag given with a job file must be text: {e}",
            flags.input.display()
        ))
    };
    let mut merged = serde_json::to_value(job).map_err(not_text)?;
    let given = serde_json::to_value(flags).map_err(not_text)?;
    if let (Some(merged), Some(given)) = (merged.as_object_mut(), given.as_object()) {
        for (key, value) in given {
            let left_out = value.is_null() || *value == serde_json::Value::Bool(false);
            // `input` on the command line is the job file itself.
            if key != "input" && !left_out {
                merged.insert(key.clone(), value.clone());
            }
        }
    }
    serde_json::from_value(merged).map_err(not_text)
}

/// The book options, checked. The cover is read by the book stage (`book::meta::resolve`).
fn book_options(o: &JobArgs) -> Result<BookOptions, ConfigError> {
    Ok(BookOptions {
        title: non_empty("--title", o.title.clone())?,
        author: non_empty("--author", o.author.clone())?,
        narrator: non_empty("--narrator", o.narrator.clone())?,
        cover: o.cover.clone(),
        format: o.book,
        chapter_gap_ms: in_range(
            "--chapter-gap-ms",
            o.chapter_gap_ms.unwrap_or(DEFAULT_CHAPTER_GAP_MS),
            0,
            MAX_CHAPTER_GAP_MS,
        )?,
        subtitles: o.subtitles,
        series: non_empty("--series", o.series.clone())?,
        series_index: match &o.series_index {
            Some(index) => Some(crate::book::meta::series_index(index).ok_or_else(|| {
                ConfigError::new(format!(
                    "--series-index: `{index}` is not a number of the book in its series (1, 2, 1.5)"
                ))
            })?),
            None => None,
        },
        description: match &o.description {
            Some(text) => Some(description(text)?),
            None => None,
        },
        publisher: non_empty("--publisher", o.publisher.clone())?,
        year: match o.year {
            Some(year) => Some(in_range("--year", year, 1, 9999)?),
            None => None,
        },
        sidecars: !o.no_sidecars,
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

fn input_kind(path: &Path, forced: Option<InputFormat>) -> Result<InputKind, ConfigError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if ext.as_deref() == Some("toml") {
        return Ok(InputKind::Job);
    }
    if let Some(forced) = forced {
        return Ok(InputKind::Manifest(forced));
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
    /// The warning of a model OpenAI shuts down (SPEC section 10), when this run or plan uses
    /// one at api.openai.com: the date, the command that switches, and what switching costs.
    pub fn shutdown_notice(&self, characters: usize) -> Option<String> {
        if self.provider != ProviderKind::Openai {
            return None;
        }
        crate::plan::prices::shutdown_notice(
            &self.voice.model,
            &self.base_url,
            &self.input,
            characters,
            crate::plan::prices::today(),
        )
    }

    /// The configuration of `verify --db PATH` without INPUT: the queue alone, no manifest
    /// read. The flags are checked as for `run`; `--out` (where the report goes) defaults to
    /// the queue's folder, as for `status --db`.
    pub fn for_queue(args: &JobArgs, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let Some(db) = args.db.clone() else {
            return Err(ConfigError::new(
                "name the manifest or job file, or the queue with --db PATH",
            ));
        };
        let (_, out) = queue_location(&QueueArgs {
            input: None,
            out: args.out.clone(),
            db: Some(db),
        })?;
        let mut named = args.clone();
        // A name for the checks of the manifest's options only: nothing reads it.
        named.input = PathBuf::from("queue.txt");
        named.input_format = None;
        named.out = Some(out);
        let mut cfg = Config::from_args(&named, env)?;
        cfg.input = PathBuf::new();
        Ok(cfg)
    }

    /// Builds the configuration of `run`/`plan` from flags, the job file they name, and the
    /// environment. Every error names the flag, key or value at fault.
    pub fn from_args(args: &JobArgs, env: EnvLookup<'_>) -> Result<Config, ConfigError> {
        let o = match input_kind(&args.input, args.input_format)? {
            InputKind::Job => {
                let mut job = load_job(&args.input)?;
                // The key's two options are one choice: a flag for either replaces the job's.
                if args.api_key_env.is_some() || args.api_key_file.is_some() {
                    (job.api_key_env, job.api_key_file) = (None, None);
                }
                if job.input.as_os_str().is_empty() {
                    return Err(ConfigError::new(format!(
                        "{}: the job file has no `input` key",
                        args.input.display()
                    )));
                }
                layered(args, job)?
            }
            InputKind::Manifest(_) => args.clone(),
        };
        let format = match input_kind(&o.input, o.input_format)? {
            InputKind::Manifest(f) => f,
            InputKind::Job => {
                return Err(ConfigError::new(format!(
                    "{}: a job file cannot name another job file as its input",
                    o.input.display()
                )));
            }
        };

        let book = book_options(&o)?;
        let out = o.out.clone().unwrap_or_else(|| default_out(&o.input));
        let db = o.db.clone().unwrap_or_else(|| out.join(DB_FILE));

        let base_url = o
            .base_url
            .clone()
            .or_else(|| env("OPENAI_BASE_URL").filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let base_url = check_base_url(&base_url, o.allow_insecure_http)?;

        let key_source = match (o.api_key_file.clone(), o.api_key_env.clone()) {
            (Some(file), _) => KeySource::File(file),
            (None, Some(name)) => KeySource::Env(name),
            (None, None) => KeySource::Env(DEFAULT_KEY_ENV.to_string()),
        };
        if let KeySource::Env(name) = &key_source
            && (name.is_empty() || name.contains('='))
        {
            return Err(ConfigError::new(format!(
                "--api-key-env: `{name}` is not a variable name"
            )));
        }

        let verify = verify_options(&o, &base_url, &key_source)?;
        let max_wer = o.max_wer.unwrap_or(DEFAULT_MAX_WER);
        if !(max_wer.is_finite() && max_wer >= 0.0) {
            return Err(ConfigError::new(format!(
                "--max-wer: {max_wer} is not a rate (0 or more, e.g. 0.17)"
            )));
        }

        let provider = o.provider.unwrap_or_else(|| {
            default_provider(
                o.model.is_some(),
                &base_url,
                &db,
                &crate::plan::prices::today(),
            )
        });
        let audio_format = o.audio_format.unwrap_or(DEFAULT_AUDIO_FORMAT);
        let speed = o.speed.unwrap_or(DEFAULT_SPEED);
        check_speed(speed).map_err(|e| ConfigError::new(format!("--speed: {e}")))?;
        let model = non_empty("--model", o.model.clone())?;
        let model = match provider {
            ProviderKind::Openai => model.unwrap_or_else(|| DEFAULT_MODEL.into()),
            ProviderKind::Realtime => model.unwrap_or_else(|| REALTIME_MODEL.into()),
            // espeak-ng has no models: recording its own name keeps its audio apart from any
            // API's in fingerprints, prices and the report.
            ProviderKind::Espeak => ESPEAK_MODEL.into(),
            ProviderKind::Piper => PIPER_MODEL.into(),
        };
        if provider.is_local() && audio_format == AudioFormat::Aac {
            return Err(ConfigError::new(format!(
                "--audio-format: aac is not available with --provider {provider} (no freely licensed AAC encoder to build in); use mp3, opus, flac or wav",
            )));
        }
        let voice = non_empty("--voice", o.voice.clone())?;
        let voice_given = voice.is_some();
        let voice = voice.unwrap_or_else(|| match provider {
            ProviderKind::Realtime => REALTIME_VOICE.into(),
            _ => DEFAULT_VOICE.into(),
        });
        if provider == ProviderKind::Realtime {
            if audio_format == AudioFormat::Aac {
                return Err(ConfigError::new(
                    "--audio-format: aac is not available with --provider realtime (its PCM is encoded in-process, and there is no freely licensed AAC encoder to build in); use mp3, opus, flac or wav",
                ));
            }
            if !REALTIME_SPEEDS.contains(&speed) {
                return Err(ConfigError::new(format!(
                    "--speed: {speed} is out of range for --provider realtime (0.25 to 1.5)"
                )));
            }
        }
        let instructions = o.instructions.clone().filter(|s| !s.trim().is_empty());

        // espeak-ng and piper are CPU work on this machine: one piece per core keeps every
        // core busy.
        let default_concurrency = match provider {
            ProviderKind::Openai | ProviderKind::Realtime => DEFAULT_CONCURRENCY,
            ProviderKind::Espeak | ProviderKind::Piper => std::thread::available_parallelism()
                .map_or(1, |n| u32::try_from(n.get()).unwrap_or(256).min(256)),
        };
        let concurrency = in_range(
            "--concurrency",
            o.concurrency.unwrap_or(default_concurrency),
            1,
            256,
        )?;
        let rpm = o.rpm.unwrap_or(Rpm::Fixed(DEFAULT_RPM));
        let cpm = match o.cpm {
            Some(c) => Some(in_range("--cpm", c, 1, u32::MAX)?),
            None => None,
        };
        let max_attempts = in_range(
            "--max-attempts",
            o.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
            1,
            100,
        )?;
        let timeout = o.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(1..=3600).contains(&timeout) {
            return Err(ConfigError::new(format!(
                "--timeout: {timeout} is out of range (1 to 3600 seconds)"
            )));
        }
        let max_chars = in_range(
            "--max-chars",
            o.max_chars.unwrap_or(API_MAX_CHARS),
            1,
            API_MAX_CHARS,
        )?;
        let pause_ms = in_range(
            "--pause-ms",
            o.pause_ms.unwrap_or(DEFAULT_PAUSE_MS),
            0,
            MAX_PAUSE_MS,
        )?;
        if let Some(level) = o.chapter_level
            && !(1..=6).contains(&level)
        {
            return Err(ConfigError::new(format!(
                "--chapter-level: {level} is out of range (1 to 6)"
            )));
        }
        if let Some(cost) = o.max_cost
            && !(cost.is_finite() && cost > 0.0)
        {
            return Err(ConfigError::new(format!(
                "--max-cost: {cost} is not a positive amount"
            )));
        }
        let text_column = non_empty("--text-column", o.text_column.clone())?
            .unwrap_or_else(|| DEFAULT_TEXT_COLUMN.into());
        let id_column = non_empty("--id-column", o.id_column.clone())?
            .unwrap_or_else(|| DEFAULT_ID_COLUMN.into());

        if book.format == Some(BookFormat::Mp3) && audio_format != AudioFormat::Mp3 {
            return Err(ConfigError::new(format!(
                "--book mp3 joins mp3 files, and --audio-format is {audio_format} (use --book m4b)"
            )));
        }

        Ok(Config {
            manifest: ManifestOptions {
                format,
                text_column,
                id_column,
                chapter_level: o.chapter_level,
                read_code: o.read_code,
                keep_front_matter: o.keep_front_matter,
                lexicon: match &o.lexicon {
                    Some(path) => Some(std::sync::Arc::new(
                        crate::manifest::lexicon::Lexicon::load(path).map_err(ConfigError::new)?,
                    )),
                    None => None,
                },
            },
            input: o.input,
            out,
            pieces: pieces_dir(&db),
            db,
            base_url,
            key_source,
            provider,
            piper_voices: o.piper_voices.clone(),
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
            max_cost: o.max_cost,
            book,
            verify,
            max_wer,
        })
    }
}

/// The verification options (flags and job file are one set by now), checked.
fn verify_options(
    o: &JobArgs,
    speech_base: &str,
    speech_key: &KeySource,
) -> Result<VerifyOptions, ConfigError> {
    let base_url = match &o.verify_base_url {
        Some(url) => check_base_url(url, o.allow_insecure_http)
            .map_err(|e| ConfigError::new(e.0.replace("--base-url", "--verify-base-url")))?,
        None => speech_base.to_string(),
    };
    let model = non_empty("--verify-model", o.verify_model.clone())?
        .unwrap_or_else(|| DEFAULT_VERIFY_MODEL.to_string());
    if let Some(name) = &o.verify_api_key_env
        && (name.trim().is_empty() || name.contains('='))
    {
        return Err(ConfigError::new(format!(
            "--verify-api-key-env: `{name}` is not a variable name"
        )));
    }
    let key_source = match &o.verify_api_key_env {
        Some(name) => KeySource::Env(name.clone()),
        None => speech_key.clone(),
    };
    let sample = o.verify_sample.unwrap_or(1.0);
    if !(sample.is_finite() && sample > 0.0 && sample <= 1.0) {
        return Err(ConfigError::new(format!(
            "--verify-sample: {sample} is not a share of pieces (more than 0, at most 1)"
        )));
    }
    Ok(VerifyOptions {
        enabled: o.verify,
        key_optional: crate::plan::prices::is_loopback(&base_url),
        base_url,
        model,
        key_source,
        sample,
        strict: o.verify_strict,
    })
}

/// The default provider: `openai`, except for a new queue at api.openai.com with no model
/// chosen from the day OpenAI shuts its speech models down (SPEC section 10), which uses
/// `realtime`, the only way on there. An existing queue keeps its settings.
fn default_provider(model_given: bool, base_url: &str, db: &Path, today: &str) -> ProviderKind {
    let shut = crate::plan::prices::shutdown_date(DEFAULT_MODEL).is_some_and(|date| today >= date);
    if shut && !model_given && crate::plan::prices::is_openai(base_url) && !db.exists() {
        ProviderKind::Realtime
    } else {
        DEFAULT_PROVIDER
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
            let job = load_job(input)?;
            let manifest = Some(job.input.clone())
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| input.clone());
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
        a.rpm = Some(Rpm::Fixed(10));
        let cfg = Config::from_args(&a, &no_env).unwrap();
        assert_eq!(cfg.input, dir.path().join("book.md"));
        assert_eq!(cfg.out, dir.path().join("audio"));
        assert_eq!(cfg.voice.voice, "nova");
        assert_eq!(cfg.rpm, Rpm::Fixed(10));
        let mut a = args(job.to_str().unwrap());
        a.rpm = Some(Rpm::Auto);
        assert_eq!(Config::from_args(&a, &no_env).unwrap().rpm, Rpm::Auto);
    }

    #[test]
    fn a_job_file_takes_the_typed_values_of_the_flags_and_flags_layer_on_top() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("book.toml");
        std::fs::write(
            &job,
            "input = \"book.md\"\nprovider = \"espeak\"\naudio-format = \"FLAC\"\n\
             book = \"m4b\"\nsubtitles = \"webvtt\"\ninput-format = \"markdown\"\n\
             read-code = true\napi-key-file = \"key\"\nrpm = \"auto\"\n",
        )
        .unwrap();
        let cfg = Config::from_args(&args(job.to_str().unwrap()), &no_env).unwrap();
        assert_eq!(cfg.provider, ProviderKind::Espeak);
        assert_eq!(cfg.voice.format, AudioFormat::Flac);
        assert_eq!(cfg.book.format, Some(BookFormat::M4b));
        assert_eq!(cfg.book.subtitles, Some(SubtitleFormat::Vtt));
        assert_eq!(cfg.rpm, Rpm::Auto);
        assert!(
            cfg.manifest.read_code,
            "a switch the flags leave out keeps the job's"
        );
        assert_eq!(cfg.key_source, KeySource::File(dir.path().join("key")));

        let mut a = args(job.to_str().unwrap());
        a.audio_format = Some(AudioFormat::Wav);
        a.api_key_env = Some("MY_KEY".into());
        let cfg = Config::from_args(&a, &no_env).unwrap();
        assert_eq!(cfg.voice.format, AudioFormat::Wav);
        assert_eq!(
            cfg.key_source,
            KeySource::Env("MY_KEY".into()),
            "either key flag replaces the job's key"
        );
        assert_eq!(cfg.input, dir.path().join("book.md"));
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
