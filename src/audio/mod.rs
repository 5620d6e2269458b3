//! Validating, counting and joining the audio the speech API returns (pauses made of silent frames).
//!
//! A response is checked before it is trusted: an error body saved under an audio name, or a
//! download cut short, must not be reported as done. Durations are measured from the stream
//! itself (frames or packets counted, never estimated from the bitrate), so that the duration of
//! an item joined from several pieces is exactly the sum of its pieces and its pauses. Joining
//! works on frames, not by concatenating files: per-file headers (ID3, Xing/Info, RIFF, FLAC
//! STREAMINFO, Ogg OpusHead) would otherwise end up in the middle of the stream, where players
//! misread them, and a joined file gets one header of its own that states its true length.
//!
//! One file per container: [`mp3`] (MPEG Layer III, Xing/Info and LAME tags, silent frames),
//! [`adts`] (AAC), [`frames`] (what MP3 and ADTS share: walking and counting their frames), [`tags`] (ID3
//! and APE around them), [`wav`] (WAV and raw PCM), [`flac`], [`ogg`] (Ogg Opus, through the
//! `ogg` crate); and [`sniff`] (what a body is), [`measure`] (symphonia), [`join`] (the joined
//! file's clock and output).
//!
//! Everything here reads files through small buffers, so pieces of any size are fine, and
//! nothing panics on bytes that are not what they claim to be.

mod adts;
mod flac;
mod frames;
mod join;
mod measure;
mod mp3;
mod ogg;
mod sniff;
mod tags;
mod wav;

use join::{Output, Timeline, copy_exact};
use sniff::{non_audio_kind, not_format};

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use symphonia::core::errors::Error as SymphoniaError;

use crate::domain::AudioFormat;

/// Why a file is not usable audio, or why pieces cannot be joined.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Writing the joined file failed.
    #[error("cannot write joined audio: {0}")]
    Io(#[from] io::Error),
    /// A named audio file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file has no bytes at all.
    #[error("{} is empty, not {format} audio", path.display())]
    Empty { format: AudioFormat, path: PathBuf },
    /// The file does not start like the format (typically an error body saved as audio).
    #[error("{} is not {format} audio: {what}", path.display())]
    NotFormat {
        format: AudioFormat,
        path: PathBuf,
        what: String,
    },
    /// The file starts like the format but its structure is broken (typically cut short).
    #[error("{} is damaged {format} audio: {detail}", path.display())]
    Damaged {
        format: AudioFormat,
        path: PathBuf,
        detail: String,
    },
    /// The file is well formed but holds no audio frames.
    #[error("{} holds no {format} audio", path.display())]
    NoAudio { format: AudioFormat, path: PathBuf },
    /// Symphonia could not read the stream.
    #[error("cannot read {} as {format} audio: {source}", path.display())]
    Unreadable {
        format: AudioFormat,
        path: PathBuf,
        #[source]
        source: SymphoniaError,
    },
    /// There was nothing to join.
    #[error("cannot join {count} pieces of {format}")]
    CannotJoin { format: AudioFormat, count: usize },
    /// A piece is not in the same stream format as the first piece.
    #[error(
        "cannot join {} to the pieces before it: pieces differ in sample rate, channels or encoding (it is {this}, the first piece {first})",
        path.display()
    )]
    Mismatch {
        format: AudioFormat,
        path: PathBuf,
        first: String,
        this: String,
    },
    /// No silence can be made to match this stream (an encoding we do not write).
    #[error("cannot make {format} silence to match {}: {why}", path.display())]
    NoSilence {
        format: AudioFormat,
        path: PathBuf,
        why: String,
    },
    /// The joined file would be larger than the format can describe.
    #[error("joined {format} audio would exceed 4 GiB, more than a {format} header can describe")]
    TooLarge { format: AudioFormat },
}

/// What `join` wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    /// Bytes written.
    pub bytes: u64,
    /// The measured length of the joined file in seconds: the pieces' lengths plus the pauses
    /// (what `measure` says of the file).
    pub seconds: f64,
    /// Where each piece's audio starts in the joined file, in seconds, in piece order: the
    /// times a subtitle or a chapter mark for that piece should start at.
    pub starts: Vec<f64>,
    /// Where each piece's audio ends (the pause after it, if any, follows), in piece order.
    pub ends: Vec<f64>,
}

/// How many leading bytes `looks_like` is given by `validate`.
const HEAD_LEN: usize = 64;

/// Whether the first bytes of a response look like `format`: mp3 = "ID3" tag or an MPEG audio
/// frame sync (0xFFE, valid version/layer/bitrate/sample-rate fields); opus = "OggS"; flac = "fLaC";
/// wav = "RIFF" ....  "WAVE"; aac = ADTS sync (0xFFF, layer 00) or "ID3"; pcm = anything.
/// `head` is at most the first 64 bytes (may be shorter if the body is). A JSON error body
/// (`{"error":...}`), an HTML page, or empty input never matches.
///
/// Only Layer III counts as mp3 (the only MPEG layer we can decode). For opus, when the head
/// reaches that far, the first page must carry the `OpusHead` packet. For pcm, which has no
/// header, a head that reads as JSON, HTML or plain text is refused: real samples essentially
/// never are all printable text.
pub fn looks_like(format: AudioFormat, head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    match format {
        AudioFormat::Mp3 => {
            tags::id3v2_at_start(head)
                || head.get(..4).is_some_and(|h| mp3::parse_header(h).is_ok())
        }
        AudioFormat::Aac => tags::id3v2_at_start(head) || adts::sync(head),
        AudioFormat::Opus => head.starts_with(b"OggS") && ogg::head_where_visible(head),
        AudioFormat::Flac => head.starts_with(b"fLaC"),
        AudioFormat::Wav => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE"),
        AudioFormat::Pcm => non_audio_kind(head).is_none(),
    }
}

/// Checks a whole downloaded response file: non-empty, starts like the format, and is
/// structurally whole where cheap to tell, and returns its measured duration in seconds (see
/// `measure`).
///
/// mp3/aac: the frames walk strictly back to back to the end, every frame of the first frame's
/// stream (sample rate, channels); wav: fmt and data chunks, the data ending on a whole sample
/// frame; pcm: a whole number of 16-bit samples; Ogg Opus: every page's CRC right, an OpusHead
/// first, an end-of-stream page last; FLAC: whole frames account for every byte after the
/// metadata (streamed FLAC has no sample count to check a cut against) and for at least the
/// samples STREAMINFO promises. A well-formed file with no audio at all is refused (`NoAudio`).
pub fn validate(format: AudioFormat, path: &Path) -> Result<f64, AudioError> {
    let mut file = open(path)?;
    let len = file_len(&file, path)?;
    if len == 0 {
        return Err(AudioError::Empty {
            format,
            path: path.to_path_buf(),
        });
    }
    let head = read_head(&mut file, path)?;
    if !looks_like(format, &head) {
        return Err(not_format(format, path, &head));
    }
    let seconds = match format {
        AudioFormat::Mp3 => frames::validate(&mp3::FRAMES, path, file, len)?,
        AudioFormat::Aac => frames::validate(&adts::FRAMES, path, file, len)?,
        AudioFormat::Wav => wav::validate(path, &mut file, len)?,
        AudioFormat::Pcm => wav::validate_pcm(path, len)?,
        AudioFormat::Flac => flac::validate(path, file, len)?,
        AudioFormat::Opus => ogg::validate(path, file)?,
    };
    if seconds > 0.0 {
        Ok(seconds)
    } else {
        Err(AudioError::NoAudio {
            format,
            path: path.to_path_buf(),
        })
    }
}

/// Duration in seconds of an audio file, measured from the stream itself without estimating:
/// mp3/aac/flac by demuxing it with symphonia and summing packet durations (decoding every
/// sample is not needed and is too slow); for mp3 every audio frame counts and a Xing/Info frame
/// does not (gapless trimming off: see `mp3` for what players trim); wav from its chunk headers
/// (streamed wav, whose sizes are 0xFFFFFFFF, runs to the end of the file); pcm = bytes / 2 /
/// 24000; Ogg Opus from the last granule position less the OpusHead pre-skip, over 48 kHz.
// Joins count what they write and `validate` measures what is stored, so only the tests measure
// a file after the fact: a second opinion on the joins' counts.
#[cfg(test)]
pub fn measure(format: AudioFormat, path: &Path) -> Result<f64, AudioError> {
    let mut file = open(path)?;
    let len = file_len(&file, path)?;
    match format {
        AudioFormat::Mp3 => frames::measure(&mp3::FRAMES, path, file, len),
        AudioFormat::Aac => frames::measure(&adts::FRAMES, path, file, len),
        AudioFormat::Flac => flac::measure(path, file, len),
        AudioFormat::Wav => wav::measure(path, &mut file, len),
        AudioFormat::Pcm => Ok(wav::pcm_seconds(len)),
        AudioFormat::Opus => ogg::measure(path, file),
    }
}

/// What a joined stream says of its ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ends {
    /// Where the format states an encoder's delay and padding (MP3's LAME tag), the joined file
    /// keeps the first piece's delay and the last piece's padding for players to trim: an item.
    Gapless,
    /// Nothing for a player to trim: every frame plays, as the chapter marks and subtitles of a
    /// book, which count every frame, expect.
    EveryFrame,
}

/// Joins the pieces of one item, in order, into `out` (already created, empty; the caller does
/// fsync/rename), with `pause` of silence in the stream's own encoding between each two pieces.
/// The same call joins chapters into a book with the chapter gap as the pause.
///
/// Every format gives one stream with one header that states its true length:
/// - mp3: the pieces' MPEG frames back to back without their tags and Xing/Info/VBRI frames,
///   behind a new Xing (VBR) or Info (CBR) frame counting every frame and byte, with a seek
///   table and, with [`Ends::Gapless`] where the first piece had a LAME tag, its encoder
///   delay and the last piece's padding;
/// - aac: ADTS frames back to back (ADTS has no header to state a length);
/// - wav: one RIFF/WAVE header with the right sizes over all the samples; pcm: bytes back to
///   back;
/// - flac: one stream: every frame renumbered (variable block size, by sample number, CRC-8
///   and CRC-16 recomputed) behind one STREAMINFO with the total samples and true block and
///   frame sizes (MD5 zero: unknown);
/// - opus: one Ogg logical stream with the first piece's OpusHead (and so its pre-skip only)
///   and OpusTags, then every audio packet with continuous granule positions.
///
/// Pieces must be of one stream (sample rate, channels, encoding), else `Mismatch`; a damaged
/// piece is refused rather than glued in. Pauses are rounded to whole frames (the rounding is
/// carried from pause to pause, so the total is within one frame of `pause` × gaps). The
/// output is written through a buffer and never holds a whole piece in memory; it starts at
/// `out`'s position (the book puts its tag before it). On error `out` holds partial output and
/// should be discarded.
pub fn join<W: Write + Seek>(
    format: AudioFormat,
    pieces: &[PathBuf],
    pause: Duration,
    ends: Ends,
    out: W,
) -> Result<Joined, AudioError> {
    if pieces.is_empty() {
        return Err(AudioError::CannotJoin {
            format,
            count: pieces.len(),
        });
    }
    let mut writer = Output::new(out);
    let timeline = match format {
        AudioFormat::Mp3 => mp3::join(pieces, pause, ends, &mut writer)?,
        AudioFormat::Aac => adts::join(pieces, pause, &mut writer)?,
        AudioFormat::Wav => wav::join(pieces, pause, &mut writer)?,
        AudioFormat::Pcm => wav::join_pcm(pieces, pause, &mut writer)?,
        AudioFormat::Flac => flac::join(pieces, pause, &mut writer)?,
        AudioFormat::Opus => ogg::join(pieces, pause, &mut writer)?,
    };
    let bytes = writer.finish()?;
    Ok(timeline.into_joined(bytes))
}

/// The audio frames of an MP3 or ADTS file, counted (each frame checked as `validate` checks
/// it; an MP3's Xing/Info frame is not audio): its exact length in whole frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCount {
    pub frames: u64,
    pub sample_rate: u32,
    /// Samples each frame decodes to (AAC: 1024; MP3: 1152 or 576).
    pub samples_per_frame: u64,
}

/// Counts the frames of the MP3 or ADTS file at `path`; other formats have no frames of their
/// own to count (`CannotJoin` says so).
pub fn count_frames(format: AudioFormat, path: &Path) -> Result<FrameCount, AudioError> {
    let container = match format {
        AudioFormat::Mp3 => &mp3::FRAMES,
        AudioFormat::Aac => &adts::FRAMES,
        _ => return Err(AudioError::CannotJoin { format, count: 0 }),
    };
    let file = open(path)?;
    let len = file_len(&file, path)?;
    frames::count(container, path, file, len)
}

// ---------------------------------------------------------------------------------------------
// Errors and small file helpers

fn damaged(format: AudioFormat, path: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Damaged {
        format,
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

fn mismatch(format: AudioFormat, path: &Path, first: String, this: String) -> AudioError {
    AudioError::Mismatch {
        format,
        path: path.to_path_buf(),
        first,
        this,
    }
}

fn no_silence(format: AudioFormat, path: &Path, why: impl Into<String>) -> AudioError {
    AudioError::NoSilence {
        format,
        path: path.to_path_buf(),
        why: why.into(),
    }
}

fn read_error(path: &Path) -> impl Fn(io::Error) -> AudioError + '_ {
    move |source| AudioError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn open(path: &Path) -> Result<File, AudioError> {
    File::open(path).map_err(read_error(path))
}

fn file_len(file: &File, path: &Path) -> Result<u64, AudioError> {
    Ok(file.metadata().map_err(read_error(path))?.len())
}

/// Reads into `buf` until it is full or the input ends; returns how much was read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `buf.len()` bytes at `offset`; false if the file ends first.
fn read_at(file: &mut File, path: &Path, offset: u64, buf: &mut [u8]) -> Result<bool, AudioError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(read_error(path))?;
    Ok(read_full(file, buf).map_err(read_error(path))? == buf.len())
}

fn read_head(file: &mut File, path: &Path) -> Result<Vec<u8>, AudioError> {
    let mut head = vec![0; HEAD_LEN];
    let n = read_full(file, &mut head).map_err(read_error(path))?;
    head.truncate(n);
    Ok(head)
}

/// The size of the buffers used to copy audio around.
const COPY_BUFFER: usize = 64 * 1024;

/// Writes bits most significant first, as MPEG, AAC and FLAC headers are laid out.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, width: u32, value: u64) {
        for i in (0..width).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = u8::from((value >> i) & 1 == 1);
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.bits % 8);
            }
            self.bits += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

#[cfg(test)]
#[path = "../../tests/it/support/synth.rs"]
pub(crate) mod synth; // the unit tests of `book/` use it too
#[cfg(test)]
mod tests;
