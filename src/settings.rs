//! The typed values of the settings and their defaults, in one place: the enumerations a flag or
//! a job-file key takes (`--provider`, `--audio-format`, `--book`, `--subtitles`,
//! `--input-format`, `--log-format`), `--rpm N|auto`, the book options, and every default the
//! help text and the code use. Clap sees these types only in `cli.rs`, which offers their names
//! to shell completions; the job file deserialises the same types.
//!
//! Adding a value to an enumeration is one line in its [`named_enum!`] block: the names, the
//! parser, its error, serde and the completions follow from it.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// An enumeration whose values are words on the command line and in the job file.
pub trait Named: Copy + FromStr<Err = UnknownName> + 'static {
    /// Every value, in the order help and completions list them.
    const ALL: &'static [Self];
    /// The value's name (`mp3`, `espeak`, ...).
    fn as_str(self) -> &'static str;
}

/// A word that names no value of a setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of {})", .expected.join(", "))]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: Vec<&'static str>,
}

/// Declares a [`Named`] enumeration: each variant with its name and any accepted aliases.
/// Names are matched ignoring ASCII case and surrounding spaces.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(| $alias:literal)* ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl Named for $name {
            const ALL: &'static [Self] = &$name::ALL;
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl $name {
            /// Every value, in the order help and completions list them.
            pub const ALL: [Self; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The value's name (`mp3`, `espeak`, ...).
            pub fn as_str(self) -> &'static str {
                Named::as_str(self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, UnknownName> {
                let word = s.trim().to_ascii_lowercase();
                match word.as_str() {
                    $($text $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(UnknownName {
                        what: $what,
                        value: s.to_string(),
                        expected: vec![$($text),+],
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let word = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                word.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_enum! {
    /// A `response_format` of the speech API.
    pub enum AudioFormat ("audio format") {
        Mp3 = "mp3",
        Opus = "opus",
        Aac = "aac",
        Flac = "flac",
        Wav = "wav",
        /// Raw 24 kHz, 16-bit, mono, little-endian samples with no header.
        Pcm = "pcm",
    }
}

impl AudioFormat {
    /// The file extension of an audio file in this format (no dot).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// The media type of a file in this format, as an upload names it.
    pub fn mime(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Opus => "audio/ogg",
            AudioFormat::Aac => "audio/aac",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::Pcm => "application/octet-stream",
        }
    }
}

named_enum! {
    /// Which voice speaks: an OpenAI-compatible API, or an offline program (`espeak-ng`,
    /// `piper`).
    pub enum ProviderKind ("provider") {
        Openai = "openai",
        Espeak = "espeak" | "espeak-ng",
        /// The `piper` program: a neural voice, offline.
        Piper = "piper",
        /// OpenAI's Realtime API over a WebSocket.
        Realtime = "realtime",
    }
}

impl ProviderKind {
    /// Whether it runs on this machine: no key, no pacing, no cost, `-j` the cores.
    pub fn is_local(self) -> bool {
        matches!(self, ProviderKind::Espeak | ProviderKind::Piper)
    }
}

named_enum! {
    /// `--book`: the whole book as one file.
    pub enum BookFormat ("book format") {
        /// AAC in MP4 with chapter marks, made with the `ffmpeg` program.
        M4b = "m4b",
        /// One MP3 with ID3 CHAP/CTOC frames, made in Rust.
        Mp3 = "mp3",
    }
}

impl BookFormat {
    /// The book file's extension.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

named_enum! {
    /// `--subtitles`: subtitle file formats.
    pub enum SubtitleFormat ("subtitle format") {
        Srt = "srt",
        Vtt = "vtt" | "webvtt",
    }
}

impl SubtitleFormat {
    /// The subtitle file's extension.
    pub fn extension(self) -> &'static str {
        self.as_str()
    }
}

named_enum! {
    /// `--input-format`: a manifest's kind, when its extension does not tell.
    pub enum InputFormat ("input format") {
        Lines = "lines",
        Csv = "csv",
        Markdown = "markdown",
        Epub = "epub",
    }
}

named_enum! {
    /// `--log-format`: how log lines are written.
    pub enum LogFormat ("log format") {
        Text = "text",
        Json = "json",
    }
}

/// `--rpm`: requests per minute asked for, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rpm {
    Fixed(u32),
    /// Follow the limit the server advertises in `x-ratelimit-limit-requests`.
    Auto,
}

/// The highest `--rpm`.
pub const MAX_RPM: u32 = 1_000_000;

impl Rpm {
    /// The rate to plan with: the number, or the starting rate of `auto`.
    pub fn planned(self) -> u32 {
        match self {
            Rpm::Fixed(n) => n,
            Rpm::Auto => AUTO_START_RPM,
        }
    }
}

impl fmt::Display for Rpm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rpm::Fixed(n) => write!(f, "{n}"),
            Rpm::Auto => f.write_str("auto"),
        }
    }
}

/// An `--rpm` that is neither a number in range nor `auto`. The message names the flag: the
/// value means nothing else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRpm {
    #[error("--rpm: `{0}` is not a number of requests per minute or `auto`")]
    NotANumber(String),
    #[error("--rpm: {0} is out of range (1 to {MAX_RPM})")]
    OutOfRange(u64),
}

impl Rpm {
    fn from_number(n: u64) -> Result<Rpm, BadRpm> {
        match u32::try_from(n) {
            Ok(n) if (1..=MAX_RPM).contains(&n) => Ok(Rpm::Fixed(n)),
            _ => Err(BadRpm::OutOfRange(n)),
        }
    }
}

impl FromStr for Rpm {
    type Err = BadRpm;

    fn from_str(value: &str) -> Result<Rpm, BadRpm> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("auto") {
            return Ok(Rpm::Auto);
        }
        let n: u64 = value
            .parse()
            .map_err(|_| BadRpm::NotANumber(value.to_string()))?;
        Rpm::from_number(n)
    }
}

impl serde::Serialize for Rpm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Rpm::Fixed(n) => s.serialize_u32(*n),
            Rpm::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Rpm {
    /// A number, or a string: `"auto"` or a number in quotes.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Value {
            Number(u64),
            Text(String),
        }
        match Value::deserialize(d)? {
            Value::Number(n) => Rpm::from_number(n),
            Value::Text(t) => t.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// `--book`, `--title`, `--author`, `--narrator`, `--cover`, `--chapter-gap-ms`, `--subtitles`,
/// `--series`, `--series-index`, `--description`, `--publisher`, `--year`, `--no-sidecars` as
/// given (flags over the job file). The book stage reads the cover and resolves the defaults
/// that depend on the manifest (`book::meta::resolve`).
#[derive(Debug, Clone, Default)]
pub struct BookOptions {
    pub title: Option<String>,
    pub author: Option<String>,
    pub narrator: Option<String>,
    /// `--cover`: read and checked by the book stage before anything is sent.
    pub cover: Option<PathBuf>,
    pub format: Option<BookFormat>,
    pub chapter_gap_ms: u32,
    pub subtitles: Option<SubtitleFormat>,
    pub series: Option<String>,
    /// A number of 0 or more, written plainly (`book::meta::series_index`).
    pub series_index: Option<String>,
    /// `--description`, read from its file when given as `@FILE`.
    pub description: Option<String>,
    pub publisher: Option<String>,
    pub year: Option<u32>,
    /// Write cover, `desc.txt`, `reader.txt` and `metadata.opf` beside the audio (not
    /// `--no-sidecars`).
    pub sidecars: bool,
}

// The defaults. `cli.rs` shows them in `--help` and `config` applies them: one constant each.

/// The default `--max-wer`: a transcript whose rate passes this does not match its text.
/// Measured (README, "Verification"; docs/BENCHMARKS.md): a piece missing a fifth of its
/// words is always over it (espeak and Piper through Whisper base, 48 pieces), honest Piper
/// speech never, honest espeak speech (the least natural voice heard by the weakest model) in
/// 3 pieces of 24.
pub const DEFAULT_MAX_WER: f64 = 0.17;

/// `--provider`.
pub const DEFAULT_PROVIDER: ProviderKind = ProviderKind::Openai;
/// `--audio-format`.
pub const DEFAULT_AUDIO_FORMAT: AudioFormat = AudioFormat::Mp3;
/// `--model` (with `--provider openai`).
pub const DEFAULT_MODEL: &str = "tts-1";
/// `--voice`.
pub const DEFAULT_VOICE: &str = "alloy";
/// `--speed`.
pub const DEFAULT_SPEED: f64 = 1.0;
/// `-j` with `--provider openai` (espeak and piper: the number of cores).
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// `--rpm`, and the rate `--rpm auto` starts at until the server advertises its limit.
pub const DEFAULT_RPM: u32 = 50;
/// The rate used by `--rpm auto` until the server advertises its limit.
pub const AUTO_START_RPM: u32 = DEFAULT_RPM;
/// `--max-attempts`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 6;
/// `--timeout`, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// The longest input the API takes in one request; also the default `--max-chars`.
pub const API_MAX_CHARS: u32 = 4096;
/// `--pause-ms`.
pub const DEFAULT_PAUSE_MS: u32 = 0;
/// `--chapter-gap-ms`.
pub const DEFAULT_CHAPTER_GAP_MS: u32 = 2000;
/// The longest `--pause-ms`: a minute of silence between two pieces of speech.
pub const MAX_PAUSE_MS: u32 = 60_000;
/// The longest `--chapter-gap-ms`: a minute of silence is already more than any player needs.
pub const MAX_CHAPTER_GAP_MS: u32 = 60_000;
/// `--text-column`.
pub const DEFAULT_TEXT_COLUMN: &str = "text";
/// `--id-column`.
pub const DEFAULT_ID_COLUMN: &str = "id";
/// The API root used when neither a flag, a job file nor `OPENAI_BASE_URL` names one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// The environment variable that holds the key unless `--api-key-env` names another.
pub const DEFAULT_KEY_ENV: &str = "OPENAI_API_KEY";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_both_ways_and_errors_list_them() {
        for f in AudioFormat::ALL {
            assert_eq!(f.as_str().parse::<AudioFormat>(), Ok(f));
        }
        assert_eq!(" MP3 ".parse::<AudioFormat>(), Ok(AudioFormat::Mp3));
        assert_eq!("espeak-ng".parse(), Ok(ProviderKind::Espeak));
        assert_eq!("webvtt".parse(), Ok(SubtitleFormat::Vtt));
        let err = "ogg".parse::<AudioFormat>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown audio format `ogg` (expected one of mp3, opus, aac, flac, wav, pcm)"
        );
    }

    #[test]
    fn rpm_is_a_number_in_range_or_auto() {
        assert_eq!("auto".parse(), Ok(Rpm::Auto));
        assert_eq!(" 60 ".parse(), Ok(Rpm::Fixed(60)));
        assert_eq!("0".parse::<Rpm>(), Err(BadRpm::OutOfRange(0)));
        assert_eq!(
            "99999999999".parse::<Rpm>(),
            Err(BadRpm::OutOfRange(99_999_999_999))
        );
        assert!(matches!("fast".parse::<Rpm>(), Err(BadRpm::NotANumber(_))));
        let toml: std::collections::BTreeMap<String, Rpm> =
            toml::from_str("a = 20\nb = \"auto\"\n").unwrap();
        assert_eq!(toml["a"], Rpm::Fixed(20));
        assert_eq!(toml["b"], Rpm::Auto);
    }
}
