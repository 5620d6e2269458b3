//! The audio formats the speech API can return, and what each one is called.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A `response_format` of the speech API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    Mp3,
    Opus,
    Aac,
    Flac,
    Wav,
    /// Raw 24 kHz, 16-bit, mono, little-endian samples with no header.
    Pcm,
}

impl AudioFormat {
    /// Every format, in the order the API documents them.
    pub const ALL: [AudioFormat; 6] = [
        AudioFormat::Mp3,
        AudioFormat::Opus,
        AudioFormat::Aac,
        AudioFormat::Flac,
        AudioFormat::Wav,
        AudioFormat::Pcm,
    ];

    /// The name the API and our flags use (`mp3`, `opus`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Opus => "opus",
            AudioFormat::Aac => "aac",
            AudioFormat::Flac => "flac",
            AudioFormat::Wav => "wav",
            AudioFormat::Pcm => "pcm",
        }
    }

    /// The file extension of an audio file in this format (no dot).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    /// Whether pieces of one item can be joined into one file in this format.
    pub fn can_join(self) -> bool {
        !matches!(self, AudioFormat::Opus | AudioFormat::Flac)
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audio format `{0}` (expected one of mp3, opus, aac, flac, wav, pcm)")]
pub struct UnknownFormat(pub String);

impl FromStr for AudioFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        AudioFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .ok_or_else(|| UnknownFormat(s.to_string()))
    }
}
