//! The shared vocabulary every stage may use: the audio formats the speech API can return,
//! the voice settings of an item, items as a manifest gives them and as the plan makes them
//! (with their pieces), the states of items and pieces in the queue, and the words for an I/O
//! error.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::Serialize;

pub use crate::settings::{AudioFormat, ProviderKind};

/// The model name recorded for `--provider espeak` (in fingerprints, queue and report): the
/// provider has no models, and its audio must never be taken for an API's.
pub const ESPEAK_MODEL: &str = "espeak-ng";
/// The model name recorded for `--provider piper`; its voice (the `.onnx` file) is the voice.
pub const PIPER_MODEL: &str = "piper";

/// The model `--provider realtime` speaks with unless `--model` names another: the
/// replacement of OpenAI's speech models, served by the Realtime API only.
pub const REALTIME_MODEL: &str = "gpt-realtime-2.1-mini";
/// The voice `--provider realtime` speaks with unless `--voice` names another.
pub const REALTIME_VOICE: &str = "marin";
/// The speeds a Realtime session takes.
pub const REALTIME_SPEEDS: std::ops::RangeInclusive<f64> = 0.25..=1.5;

/// Everything that changes the audio of a piece besides its text.
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceSettings {
    pub model: String,
    pub voice: String,
    pub format: AudioFormat,
    pub speed: f64,
    /// Voice direction; only sent to models that take it (see [`takes_instructions`]).
    pub instructions: Option<String>,
}

/// Whether a model takes `instructions` (the gpt-4o-mini-tts family; tts-1 refuses them).
pub fn takes_instructions(model: &str) -> bool {
    model.starts_with("gpt-4o-mini-tts")
}

impl VoiceSettings {
    /// The instructions actually sent: none for models that do not take them.
    pub fn sent_instructions(&self) -> Option<&str> {
        self.instructions
            .as_deref()
            .filter(|_| takes_instructions(&self.model))
    }
}

/// A speed outside the API's range.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("{0} is out of range (0.25 to 4.0)")]
pub struct SpeedOutOfRange(pub f64);

/// Checks a speed value against the API's range.
pub fn check_speed(speed: f64) -> Result<(), SpeedOutOfRange> {
    if speed.is_finite() && (0.25..=4.0).contains(&speed) {
        Ok(())
    } else {
        Err(SpeedOutOfRange(speed))
    }
}

/// An I/O error in the words a user needs ("no such file", "is a directory", ...).
pub fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => "no such file".into(),
        PermissionDenied => "permission denied".into(),
        IsADirectory => "is a directory, not a file".into(),
        InvalidData => "not valid UTF-8 text".into(),
        _ => e.to_string(),
    }
}

/// A failure on our own side while writing audio (disk full, a file-size limit, permissions,
/// a task of the blocking pool that died): what was being written or done, and the error
/// itself, kept as the source. It stops the run (SPEC §7) rather than failing an item.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}: {source}")]
pub struct LocalError {
    /// The file (or the work) that failed, as the user should read it.
    pub what: String,
    #[source]
    pub source: Arc<dyn std::error::Error + Send + Sync>,
}

impl LocalError {
    pub fn new(
        what: impl fmt::Display,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        LocalError {
            what: what.to_string(),
            source: Arc::from(source.into()),
        }
    }

    /// The I/O error of a file, named by its path: `map_err(LocalError::at(&path))`.
    pub fn at(path: &std::path::Path) -> impl Fn(std::io::Error) -> LocalError + '_ {
        move |e| LocalError::new(path.display(), e)
    }
}

/// Two failures are the same when they say the same (the source has no `PartialEq`).
impl PartialEq for LocalError {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && self.source.to_string() == other.source.to_string()
    }
}

/// Per-item settings a CSV row may set; `None` takes the run's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub voice: Option<String>,
    pub model: Option<String>,
    pub speed: Option<f64>,
    pub instructions: Option<String>,
    pub audio_format: Option<AudioFormat>,
}

/// One item of a manifest: it becomes one audio file.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Unique within the manifest; the queue knows the item by it.
    pub key: String,
    /// A chapter's heading; None for lines and CSV rows.
    pub title: Option<String>,
    /// What is spoken, normalised (see `chunk::normalize`).
    pub text: String,
    pub overrides: Overrides,
    /// The output path relative to `--out` without extension, or with one if a CSV `output`
    /// cell gave it (`has_extension`).
    pub output: String,
    /// Whether `output` already carries the file extension the user chose.
    pub has_extension: bool,
    /// The line of the manifest where the item is (its heading, for a chapter).
    pub line: u64,
    /// How many words or phrases the lexicon replaced in `text` (`plan` shows it).
    pub replacements: usize,
}

/// One request's worth of text.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedPiece {
    pub fingerprint: String,
    pub text: String,
    pub characters: usize,
}

/// An item with its settings, output file and pieces.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedItem {
    pub key: String,
    pub title: Option<String>,
    /// Position in the manifest, from 0.
    pub seq: usize,
    /// Output file relative to `--out`, with `/` separators.
    pub output: String,
    /// Shared by every item that does not override a setting.
    pub settings: Arc<VoiceSettings>,
    pub characters: usize,
    pub pieces: Vec<PlannedPiece>,
    /// Fingerprint of the whole file: format and the ordered piece fingerprints.
    pub fingerprint: String,
    /// The item's line in the manifest.
    pub line: u64,
}

/// Where an item stands in the queue (stored as its lowercase name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemState {
    /// Its file is still to be written.
    Pending,
    /// Its file is written and matches the manifest.
    Done,
    /// A piece failed for good, or its file could not be written.
    Failed,
    /// The manifest no longer has it (its file is left alone).
    Removed,
}

impl ItemState {
    /// The name stored in the queue and shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Done => "done",
            ItemState::Failed => "failed",
            ItemState::Removed => "removed",
        }
    }
}

/// Where a piece (one request's worth of text) stands in the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PieceState {
    /// Not yet requested, or given back.
    Pending,
    /// A worker of a run is requesting it.
    Claimed,
    /// Its audio is in the piece store.
    Done,
    /// It failed for good.
    Failed,
}

impl PieceState {
    /// The name stored in the queue.
    pub fn as_str(self) -> &'static str {
        match self {
            PieceState::Pending => "pending",
            PieceState::Claimed => "claimed",
            PieceState::Done => "done",
            PieceState::Failed => "failed",
        }
    }
}

/// The error of reading a state name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`")]
pub struct UnknownState(pub String);

impl FromStr for ItemState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            ItemState::Pending,
            ItemState::Done,
            ItemState::Failed,
            ItemState::Removed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl FromStr for PieceState {
    type Err = UnknownState;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            PieceState::Pending,
            PieceState::Claimed,
            PieceState::Done,
            PieceState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
        .ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl fmt::Display for ItemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An injected failure for the tests: in debug builds, true if `TTS_BATCH_FAULT` names this
/// point (`queue-writer-panic`, `queue-end-run`, `queue-failed-items`). Release builds compile it to `false`.
pub fn fault_injected(point: &str) -> bool {
    #[cfg(debug_assertions)]
    {
        std::env::var("TTS_BATCH_FAULT").is_ok_and(|v| v == point)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = point;
        false
    }
}
