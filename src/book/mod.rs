//! What turns item files into an audiobook: tags and cover on every item file, the whole-book
//! file (`--book m4b|mp3`) with its chapter marks, `playlist.m3u8`, and subtitles
//! (`--subtitles srt|vtt`). SPEC §8.

pub mod cover;
pub mod ffmpeg;
pub(crate) mod files;
mod finish;
pub mod layout;
mod m4b;
pub mod meta;
mod mp3book;
mod mp4meta;
mod playlist;
mod retag;
pub mod sidecars;
pub mod subtitles;
pub mod tags;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use finish::finish;

use crate::domain::AudioFormat;
pub use crate::settings::BookFormat;
use meta::BookMeta;
use subtitles::SubtitleFormat;

/// The playlist's file name in `--out`.
pub const PLAYLIST: &str = "playlist.m3u8";

/// The book settings of a run, resolved (see [`meta::resolve`]).
#[derive(Debug, Clone)]
pub struct BookSettings {
    pub meta: Arc<BookMeta>,
    pub format: Option<BookFormat>,
    pub gap_ms: u32,
    pub subtitles: Option<SubtitleFormat>,
    /// `--pause-ms` between the pieces of an item, for subtitle timing.
    pub pause_ms: u32,
    /// Where chapter encodings of the M4B book are kept: beside the queue (`tts-batch.book/`).
    pub cache: PathBuf,
    /// Write the sidecar files (cover, `desc.txt`, `reader.txt`, `metadata.opf`).
    pub sidecars: bool,
}

/// The folder of cached chapter encodings, beside the queue: `tts-batch.db` → `tts-batch.book/`.
pub fn cache_dir(db: &Path) -> PathBuf {
    db.with_extension("book")
}

/// Why the book's outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BookError {
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--book mp3 joins mp3 items, and item `{key}` is {format} (use --book m4b)")]
    NotMp3 { key: String, format: AudioFormat },
    #[error(transparent)]
    Mp3(#[from] mp3book::Mp3BookError),
    #[error(transparent)]
    M4b(#[from] m4b::M4bError),
    #[error(transparent)]
    Ffmpeg(#[from] ffmpeg::FfmpegError),
    #[error(transparent)]
    Queue(#[from] crate::queue::QueueError),
    #[error(transparent)]
    Tag(#[from] tags::TagError),
    /// A signal stopped the run while its outputs were being written.
    #[error("stopped by a signal")]
    Cancelled,
}

impl BookError {
    fn write(path: &Path, source: std::io::Error) -> BookError {
        BookError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

// The integration tests' ffprobe reader, declared here as `audio/` declares the synthesizer (a
// `#[path]` inside an inline module would resolve from a folder that does not exist).
#[cfg(test)]
#[path = "../../tests/it/support/probe.rs"]
mod probe;
