//! Validating, measuring and joining the audio the speech API returned.
//!
//! A response is checked before it is trusted: an error body saved under an audio name, or a
//! download cut short, must not be reported as done. Durations are measured from the stream
//! itself (frames or packets counted, never estimated from the bitrate), so that the duration of
//! an item joined from several pieces is exactly the sum of its pieces. Joining works on
//! frames, not by concatenating files: per-file headers and tags (ID3, Xing/Info, RIFF) would
//! otherwise end up in the middle of the stream, where players misread them.
//!
//! Everything here reads files through small buffers, so pieces of any size are fine, and
//! nothing panics on bytes that are not what they claim to be.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::{AdtsReader, FlacReader, MpaReader};

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
    /// The format cannot be joined, or there was nothing to join.
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
    /// The joined file would be larger than the format can describe.
    #[error("joined {format} audio would exceed 4 GiB, more than a {format} header can describe")]
    TooLarge { format: AudioFormat },
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
            id3v2_at_start(head) || head.get(..4).is_some_and(|h| parse_mp3_header(h).is_ok())
        }
        AudioFormat::Aac => id3v2_at_start(head) || adts_sync(head),
        AudioFormat::Opus => head.starts_with(b"OggS") && opus_head_where_visible(head),
        AudioFormat::Flac => head.starts_with(b"fLaC"),
        AudioFormat::Wav => head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE"),
        AudioFormat::Pcm => non_audio_kind(head).is_none(),
    }
}

/// Checks a whole downloaded response file: non-empty, starts like the format, and is structurally
/// whole where cheap to tell (mp3/aac: the frames walk to the end with at most a trailing partial
/// frame counting as damage → error; wav: has fmt + data chunks; pcm: even length; flac/opus: magic).
/// Returns the measured duration in seconds (see `measure`).
///
/// Beyond that: every mp3/aac frame must be of the first frame's stream (sample rate, channels);
/// wav data must end on a whole sample frame; an Ogg Opus file must have its page CRCs right and
/// end on an end-of-stream page; a FLAC file's frames must account for every byte after its
/// metadata (streamed FLAC has no sample count to check a cut against) and for at least the
/// samples its STREAMINFO promises. A well-formed file with no audio at all is refused too
/// (`NoAudio`).
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
        AudioFormat::Mp3 | AudioFormat::Aac => {
            let region = audio_region(format, path, &mut file, len)?;
            walk_frames(format, path, &mut file, region, |_, _, _| Ok(()))?;
            measure_with_symphonia(Demuxer::for_frames(format), path, file, region)?.seconds()
        }
        AudioFormat::Wav => {
            let wav = parse_wav(path, &mut file, len)?;
            if wav.data_len % u64::from(wav.block_align) != 0 {
                return Err(damaged(
                    format,
                    path,
                    "the sample data ends inside a sample frame",
                ));
            }
            wav.seconds()
        }
        AudioFormat::Pcm => {
            if len % 2 != 0 {
                return Err(damaged(
                    format,
                    path,
                    format!("{len} bytes is not a whole number of 16-bit samples"),
                ));
            }
            pcm_seconds(len)
        }
        AudioFormat::Flac => {
            let region = Region { start: 0, end: len };
            let metadata = flac_metadata_len(path, &mut file, len)?;
            let counted = measure_with_symphonia(Demuxer::Flac, path, file, region)?;
            // Streamed FLAC (as the API sends it) has no sample count in STREAMINFO, so a cut
            // is found by the bytes that no whole frame accounts for.
            if metadata.saturating_add(counted.bytes) != len {
                return Err(damaged(
                    format,
                    path,
                    format!(
                        "{} of its {len} bytes are not in whole frames",
                        len.saturating_sub(metadata + counted.bytes)
                    ),
                ));
            }
            if let Some(promised) = counted.promised.filter(|&n| n > counted.samples) {
                return Err(damaged(
                    format,
                    path,
                    format!(
                        "STREAMINFO promises {promised} samples but only {} are there",
                        counted.samples
                    ),
                ));
            }
            counted.seconds()
        }
        AudioFormat::Opus => {
            let ogg = walk_ogg_opus(path, file)?;
            if !ogg.ended {
                return Err(damaged(
                    format,
                    path,
                    "the Ogg stream stops before its end-of-stream page",
                ));
            }
            ogg.seconds()
        }
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
/// mp3/aac/wav/flac by reading it with symphonia (demux packets and sum their durations — decoding
/// every sample is not needed and is too slow; gapless trimming off, so an mp3's duration is
/// frames × samples-per-frame / rate, excluding a Xing/Info frame); opus from the Ogg stream's last
/// granule position minus the OpusHead pre-skip, over 48 kHz (symphonia has no Opus decoder);
/// pcm = bytes / 2 / 24000. wav whose RIFF/data sizes are 0xFFFFFFFF or larger than the file
/// (streamed wav, as the OpenAI API sends) must still measure right (data runs to end of file).
///
/// mp3 and aac are handed to symphonia without their ID3v2 / ID3v1 / APEv2 tags, so that bytes
/// in a tag are never mistaken for frames. wav is measured from its chunk headers (whole sample
/// frames in the data chunk over the sample rate): symphonia 0.5 trusts the declared sizes, which
/// streamed wav does not have.
pub fn measure(format: AudioFormat, path: &Path) -> Result<f64, AudioError> {
    let mut file = open(path)?;
    let len = file_len(&file, path)?;
    match format {
        AudioFormat::Mp3 | AudioFormat::Aac => {
            let region = audio_region(format, path, &mut file, len)?;
            Ok(measure_with_symphonia(Demuxer::for_frames(format), path, file, region)?.seconds())
        }
        AudioFormat::Flac => {
            let region = Region { start: 0, end: len };
            Ok(measure_with_symphonia(Demuxer::Flac, path, file, region)?.seconds())
        }
        AudioFormat::Wav => Ok(parse_wav(path, &mut file, len)?.seconds()),
        AudioFormat::Pcm => Ok(pcm_seconds(len)),
        AudioFormat::Opus => Ok(walk_ogg_opus(path, file)?.seconds()),
    }
}

/// Joins the pieces of one item, in order, into `out` (already created, empty; the caller does
/// fsync/rename). Streams: never holds a whole piece in memory (copy with a buffer).
/// mp3: drop each piece's ID3v2 tag (header size, with footer flag), ID3v1 "TAG" trailer, APEv2
///   tag if present, and any Xing/Info/VBRI frame (the first frame, if it carries one); write the
///   remaining MPEG frames back to back. Refuse (error) pieces whose sample rate or channel mode
///   differ from the first piece.
/// aac: ADTS frames back to back (strip ID3 if present); same sample-rate/channel check.
/// wav: one RIFF/WAVE header (fmt from the first piece; all pieces must have the same fmt) over all
///   pieces' sample data, with correct RIFF and data sizes (error if the total exceeds 4 GiB);
///   per-piece sizes may be the streaming 0xFFFFFFFF.
/// pcm: bytes back to back.
/// opus/flac: Ok for exactly one piece (copied as is), else `AudioError::CannotJoin`.
/// Returns bytes written.
///
/// The output is always the bare stream, even for one mp3 or aac piece: a Xing frame counting
/// one piece's frames would misdescribe the whole. A piece that is damaged (frames that do not
/// walk to the end, a partial sample) is refused rather than glued in, since it would shift
/// everything after it. On error `out` holds partial output and should be discarded.
pub fn join(format: AudioFormat, pieces: &[PathBuf], out: &mut File) -> Result<u64, AudioError> {
    if pieces.is_empty() || (!format.can_join() && pieces.len() != 1) {
        return Err(AudioError::CannotJoin {
            format,
            count: pieces.len(),
        });
    }
    let mut writer = CountingWriter {
        inner: BufWriter::with_capacity(COPY_BUFFER, out),
        written: 0,
    };
    match format {
        AudioFormat::Mp3 | AudioFormat::Aac => join_frames(format, pieces, &mut writer)?,
        AudioFormat::Wav => join_wav(pieces, &mut writer)?,
        AudioFormat::Pcm | AudioFormat::Opus | AudioFormat::Flac => {
            for piece in pieces {
                let mut file = open(piece)?;
                if format == AudioFormat::Pcm {
                    let len = file_len(&file, piece)?;
                    if len % 2 != 0 {
                        return Err(damaged(
                            format,
                            piece,
                            format!("{len} bytes is not a whole number of 16-bit samples"),
                        ));
                    }
                }
                copy_exact(piece, &mut file, &mut writer, None)?;
            }
        }
    }
    writer.inner.flush()?;
    Ok(writer.written)
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

/// A writer that counts what went through it, for `join`'s return value.
struct CountingWriter<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> CountingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Copies `file` from its current position to `writer`: `len` bytes, or to the end if `None`.
/// Errors if the file ends before `len` bytes.
fn copy_exact<W: Write>(
    path: &Path,
    file: &mut File,
    writer: &mut CountingWriter<W>,
    len: Option<u64>,
) -> Result<(), AudioError> {
    let mut buf = vec![0; COPY_BUFFER];
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(path)(e)),
        };
        if n == 0 {
            if len.is_some() {
                return Err(read_error(path)(io::ErrorKind::UnexpectedEof.into()));
            }
            break;
        }
        writer.put(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

fn pcm_seconds(len: u64) -> f64 {
    (len / 2) as f64 / f64::from(PCM_RATE)
}

/// The sample rate of the API's raw pcm output.
const PCM_RATE: u32 = 24_000;

// ---------------------------------------------------------------------------------------------
// Recognizing what a body is

/// What a head that is not audio at all looks like, if it does: an error body saved as audio.
fn non_audio_kind(head: &[u8]) -> Option<&'static str> {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let text = text.trim_ascii_start();
    match text {
        [b'{', rest @ ..]
            if matches!(rest.trim_ascii_start().first(), Some(b'"' | b'}') | None) =>
        {
            Some("a JSON body")
        }
        [b'<', next, ..] if next.is_ascii_alphabetic() || matches!(next, b'!' | b'?') => {
            Some("an HTML page")
        }
        _ if head.len() >= 4
            && head
                .iter()
                .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) =>
        {
            Some("text")
        }
        _ => None,
    }
}

/// The `NotFormat` error for a file whose head is `head`, saying what it looks like instead.
fn not_format(format: AudioFormat, path: &Path, head: &[u8]) -> AudioError {
    let what = match non_audio_kind(head) {
        Some(kind) => {
            let excerpt: String = String::from_utf8_lossy(head)
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(60)
                .collect();
            format!("it looks like {kind}: {}", excerpt.trim())
        }
        None => {
            let hex: String = head.iter().take(8).map(|b| format!(" {b:02x}")).collect();
            format!("it starts with bytes{hex}")
        }
    };
    AudioError::NotFormat {
        format,
        path: path.to_path_buf(),
        what,
    }
}

fn adts_sync(head: &[u8]) -> bool {
    matches!(head, [0xFF, second, ..] if second & 0xF6 == 0xF0)
}

/// True unless the head shows a first Ogg page that does not hold an `OpusHead` packet.
fn opus_head_where_visible(head: &[u8]) -> bool {
    let Some(&segments) = head.get(26) else {
        return true;
    };
    let start = 27 + usize::from(segments);
    match head.get(start..start + 8) {
        Some(magic) => magic == b"OpusHead",
        None => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Tags around MPEG and ADTS streams

/// The bytes of a file that hold frames, between leading and trailing tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Region {
    start: u64,
    end: u64,
}

/// The size of an ID3v2 header or footer.
const ID3V2_HEADER: usize = 10;

fn id3v2_at_start(head: &[u8]) -> bool {
    match head {
        [b'I', b'D', b'3', rest @ ..] => match rest.get(..7) {
            Some(header) => id3v2_size(header).is_some(),
            None => true,
        },
        _ => false,
    }
}

/// The full size of an ID3v2 tag from the 7 header bytes after "ID3" (version, revision, flags,
/// syncsafe size): header, body, and the footer if its flag is set.
fn id3v2_size(after_magic: &[u8]) -> Option<u64> {
    let [major, revision, flags, s0, s1, s2, s3] = *after_magic else {
        return None;
    };
    if major == 0xFF || revision == 0xFF || [s0, s1, s2, s3].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let body = (u64::from(s0) << 21) | (u64::from(s1) << 14) | (u64::from(s2) << 7) | u64::from(s3);
    let footer = if major >= 4 && flags & 0x10 != 0 {
        ID3V2_HEADER as u64
    } else {
        0
    };
    Some(ID3V2_HEADER as u64 + body + footer)
}

/// Finds the frames of an mp3 or aac file: after any ID3v2 tags at the start, before an ID3v1
/// and/or APEv2 tag at the end.
fn audio_region(
    format: AudioFormat,
    path: &Path,
    file: &mut File,
    len: u64,
) -> Result<Region, AudioError> {
    let mut start = 0u64;
    let mut header = [0u8; ID3V2_HEADER];
    // Several tags in a row are legal; each is skipped whole.
    while read_at(file, path, start, &mut header)? && header.starts_with(b"ID3") {
        let size = id3v2_size(&header[3..]).ok_or_else(|| {
            damaged(
                format,
                path,
                format!("bad ID3v2 tag header at byte {start}"),
            )
        })?;
        if size > len - start {
            return Err(damaged(
                format,
                path,
                "the ID3v2 tag runs past the end of the file",
            ));
        }
        start += size;
    }
    let mut end = len;
    let mut magic = [0u8; 3];
    if end - start >= 128 && read_at(file, path, end - 128, &mut magic)? && &magic == b"TAG" {
        end -= 128;
    }
    let mut footer = [0u8; 32];
    if end - start >= 32
        && read_at(file, path, end - 32, &mut footer)?
        && footer.starts_with(b"APETAGEX")
    {
        let size = u64::from(u32::from_le_bytes([
            footer[12], footer[13], footer[14], footer[15],
        ]));
        let has_header = footer[23] & 0x80 != 0;
        let total = size + if has_header { 32 } else { 0 };
        if size < 32 || total > end - start {
            return Err(damaged(
                format,
                path,
                "bad APEv2 tag at the end of the file",
            ));
        }
        end -= total;
    }
    Ok(Region { start, end })
}

// ---------------------------------------------------------------------------------------------
// MPEG audio and ADTS frames

/// What a frame header says, as far as walking, joining and comparing streams goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FrameInfo {
    /// Whole frame length in bytes, header included.
    len: usize,
    sample_rate: u32,
    /// mp3: 1 (mono) or 2; aac: the ADTS channel configuration.
    channels: u8,
    /// aac: the ADTS profile (object type - 1); mp3: 0.
    profile: u8,
    /// mp3: the length of the side information after the header; aac: 0.
    side_info: u8,
}

impl FrameInfo {
    /// Whether frames can follow each other in one stream. For mp3 the channel mode counts only
    /// as mono or not: encoders may switch between stereo and joint stereo frame by frame, and
    /// decoders (symphonia included) only care about the channel count.
    fn same_stream(&self, other: &FrameInfo) -> bool {
        self.sample_rate == other.sample_rate
            && self.channels == other.channels
            && self.profile == other.profile
    }

    fn describe(&self) -> String {
        let channels = match self.channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("channel configuration {n}"),
        };
        if self.profile == 0 {
            format!("{} Hz {channels}", self.sample_rate)
        } else {
            format!(
                "{} Hz {channels}, profile {}",
                self.sample_rate, self.profile
            )
        }
    }
}

const MP3_HEADER: usize = 4;
const ADTS_HEADER: usize = 7;
/// Room for any frame: Layer III frames are at most 1441 bytes (MPEG-1, 320 kbit/s, 32 kHz,
/// padded) and ADTS frame lengths are 13-bit.
const MAX_FRAME: usize = 8192;

/// Kilobits per second of Layer III by bitrate index: MPEG-1, then MPEG-2 and 2.5.
const MP3_BITRATES: [[u32; 15]; 2] = [
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Parses an MPEG audio Layer III frame header (the first 4 bytes of `b`). Free-format bitrate
/// is refused, as symphonia refuses it.
fn parse_mp3_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
    let &[b0, b1, b2, b3, ..] = b else {
        return Err("short frame header");
    };
    if b0 != 0xFF || b1 & 0xE0 != 0xE0 {
        return Err("no MPEG frame sync");
    }
    let version = (b1 >> 3) & 0b11;
    if version == 0b01 {
        return Err("reserved MPEG version");
    }
    if (b1 >> 1) & 0b11 != 0b01 {
        return Err("MPEG frame that is not Layer III");
    }
    let bitrate_index = usize::from(b2 >> 4);
    if bitrate_index == 0 || bitrate_index == 15 {
        return Err("free-format or invalid bitrate");
    }
    let rates: [u32; 3] = match version {
        0b11 => [44_100, 48_000, 32_000],
        0b10 => [22_050, 24_000, 16_000],
        _ => [11_025, 12_000, 8_000],
    };
    let sample_rate = *rates
        .get(usize::from((b2 >> 2) & 0b11))
        .ok_or("reserved sample rate")?;
    let mpeg1 = version == 0b11;
    let kbps = MP3_BITRATES[usize::from(!mpeg1)][bitrate_index];
    let padding = usize::from((b2 >> 1) & 1);
    let factor = if mpeg1 { 144 } else { 72 };
    let len = (factor * kbps * 1000 / sample_rate) as usize + padding;
    let mono = b3 >> 6 == 0b11;
    let side_info = match (mpeg1, mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    };
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: if mono { 1 } else { 2 },
        profile: 0,
        side_info,
    })
}

/// AAC sample rates by ADTS sampling_frequency_index.
const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Parses an ADTS header (the first 7 bytes of `b`). Only the form symphonia reads is accepted:
/// MPEG-4 id, no CRC, one raw data block per frame; it is what ffmpeg (and so the API) writes.
fn parse_adts_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
    let &[b0, b1, b2, b3, b4, b5, b6, ..] = b else {
        return Err("short ADTS header");
    };
    if b0 != 0xFF || b1 & 0xF6 != 0xF0 {
        return Err("no ADTS frame sync");
    }
    if b1 != 0xF1 {
        return Err("unsupported ADTS header (MPEG-2 id or CRC-protected)");
    }
    let sample_rate = *AAC_RATES
        .get(usize::from((b2 >> 2) & 0x0F))
        .ok_or("reserved ADTS sample rate")?;
    let len = (usize::from(b3 & 0b11) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
    if len < ADTS_HEADER {
        return Err("ADTS frame shorter than its header");
    }
    if b6 & 0b11 != 0 {
        return Err("unsupported ADTS frame with several raw data blocks");
    }
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: ((b2 & 1) << 2) | (b3 >> 6),
        profile: b2 >> 6,
        side_info: 0,
    })
}

/// A frame header parser: `parse_mp3_header` or `parse_adts_header`.
type ParseHeader = fn(&[u8]) -> Result<FrameInfo, &'static str>;

/// Walks the frames of `region` strictly back to back, handing each whole frame to `on_frame`
/// with its index and header, and checking every frame is of the same stream as the first.
fn walk_frames(
    format: AudioFormat,
    path: &Path,
    file: &mut File,
    region: Region,
    mut on_frame: impl FnMut(usize, &FrameInfo, &[u8]) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let (header_len, parse): (usize, ParseHeader) = if format == AudioFormat::Mp3 {
        (MP3_HEADER, parse_mp3_header)
    } else {
        (ADTS_HEADER, parse_adts_header)
    };
    file.seek(SeekFrom::Start(region.start))
        .map_err(read_error(path))?;
    let mut reader = BufReader::with_capacity(COPY_BUFFER, file.take(region.end - region.start));
    let mut buf = vec![0u8; MAX_FRAME];
    let mut pos = region.start;
    let mut first: Option<FrameInfo> = None;
    for index in 0usize.. {
        let got = read_full(&mut reader, &mut buf[..header_len]).map_err(read_error(path))?;
        if got == 0 {
            break;
        }
        if got < header_len {
            return Err(damaged(
                format,
                path,
                format!("the file ends inside a frame header at byte {pos}"),
            ));
        }
        let info = parse(&buf[..header_len])
            .map_err(|why| damaged(format, path, format!("{why} at byte {pos}")))?;
        let frame = buf
            .get_mut(..info.len)
            .ok_or_else(|| damaged(format, path, format!("oversized frame at byte {pos}")))?;
        let body = frame.get_mut(header_len..).unwrap_or_default();
        let got = read_full(&mut reader, body).map_err(read_error(path))?;
        if got < body.len() {
            return Err(damaged(
                format,
                path,
                format!(
                    "the file ends inside the frame at byte {pos} ({} of its {} bytes)",
                    header_len + got,
                    info.len
                ),
            ));
        }
        match &first {
            None => first = Some(info),
            Some(f) if !f.same_stream(&info) => {
                return Err(damaged(
                    format,
                    path,
                    format!(
                        "the frame at byte {pos} is {}, the first is {}",
                        info.describe(),
                        f.describe()
                    ),
                ));
            }
            Some(_) => {}
        }
        on_frame(index, &info, &buf[..info.len])?;
        pos += info.len as u64;
    }
    Ok(())
}

/// Whether symphonia takes the first frame of an mp3 stream for a Xing/Info or VBRI tag frame
/// (rather than audio). This mirrors symphonia's own test exactly, so that a piece and the
/// joined file lose the same frames to it and durations add up.
fn is_tag_frame(frame: &[u8], info: &FrameInfo) -> bool {
    is_xing_frame(frame, info) || is_vbri_frame(frame)
}

fn is_xing_frame(frame: &[u8], info: &FrameInfo) -> bool {
    // The tag follows the side information (symphonia does not allow for a CRC here).
    let at = MP3_HEADER + usize::from(info.side_info);
    let Some(id) = frame.get(at..at + 4) else {
        return false;
    };
    let Some(flags) = frame.get(at + 4..at + 8) else {
        return false;
    };
    if (id != b"Xing" && id != b"Info") || frame[MP3_HEADER..at].iter().any(|&b| b != 0) {
        return false;
    }
    let flags = u32::from_be_bytes([flags[0], flags[1], flags[2], flags[3]]);
    // The optional fields the flags announce must all fit in the frame.
    let fields = [(1, 4), (2, 4), (4, 100), (8, 4)]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, size)| size)
        .sum::<usize>();
    at + 8 + fields <= frame.len()
}

fn is_vbri_frame(frame: &[u8]) -> bool {
    // Fixed place, 32 bytes after the header; symphonia wants 26 bytes of tag and version 1.
    const AT: usize = MP3_HEADER + 32;
    frame.len() >= AT + 26
        && frame.get(AT..AT + 4) == Some(b"VBRI")
        && frame[MP3_HEADER..AT].iter().all(|&b| b == 0)
        && frame.get(AT + 4..AT + 6) == Some(&[0, 1])
}

fn join_frames<W: Write>(
    format: AudioFormat,
    pieces: &[PathBuf],
    writer: &mut CountingWriter<W>,
) -> Result<(), AudioError> {
    let mut stream: Option<FrameInfo> = None;
    for piece in pieces {
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        let region = audio_region(format, piece, &mut file, len)?;
        walk_frames(format, piece, &mut file, region, |index, info, frame| {
            match &stream {
                None => stream = Some(*info),
                Some(first) if !first.same_stream(info) => {
                    return Err(AudioError::Mismatch {
                        format,
                        path: piece.clone(),
                        first: first.describe(),
                        this: info.describe(),
                    });
                }
                Some(_) => {}
            }
            if index == 0 && format == AudioFormat::Mp3 && is_tag_frame(frame, info) {
                return Ok(());
            }
            writer.put(frame)
        })?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Measuring with symphonia

/// Samples counted by demuxing a stream.
struct Counted {
    samples: u64,
    /// Bytes in the packets.
    bytes: u64,
    rate: u32,
    /// The total the container's header promises, if it says.
    promised: Option<u64>,
}

impl Counted {
    fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.rate)
    }
}

/// The symphonia readers we measure with.
#[derive(Clone, Copy)]
enum Demuxer {
    Mpeg,
    Adts,
    Flac,
}

impl Demuxer {
    /// The reader for an mp3 or aac file.
    fn for_frames(format: AudioFormat) -> Demuxer {
        if format == AudioFormat::Mp3 {
            Demuxer::Mpeg
        } else {
            Demuxer::Adts
        }
    }
}

/// Demuxes `region` of `file` with the format's symphonia reader and sums packet durations.
///
/// The source is deliberately not seekable: symphonia 0.5's ADTS reader estimates the duration of
/// a seekable stream with arithmetic that overflows (a panic in debug builds) on short or odd
/// input, and the estimates of its readers are not wanted here anyway.
fn measure_with_symphonia(
    demuxer: Demuxer,
    path: &Path,
    mut file: File,
    region: Region,
) -> Result<Counted, AudioError> {
    let format = match demuxer {
        Demuxer::Mpeg => AudioFormat::Mp3,
        Demuxer::Adts => AudioFormat::Aac,
        Demuxer::Flac => AudioFormat::Flac,
    };
    file.seek(SeekFrom::Start(region.start))
        .map_err(read_error(path))?;
    let source = ReadOnlySource::new(file.take(region.end.saturating_sub(region.start)));
    let stream = MediaSourceStream::new(Box::new(source), Default::default());
    let options = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    let unreadable = |source: SymphoniaError| match source {
        SymphoniaError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            AudioError::NoAudio {
                format,
                path: path.to_path_buf(),
            }
        }
        source => AudioError::Unreadable {
            format,
            path: path.to_path_buf(),
            source,
        },
    };
    let mut reader: Box<dyn FormatReader> = match demuxer {
        Demuxer::Mpeg => Box::new(MpaReader::try_new(stream, &options).map_err(unreadable)?),
        Demuxer::Adts => Box::new(AdtsReader::try_new(stream, &options).map_err(unreadable)?),
        Demuxer::Flac => Box::new(FlacReader::try_new(stream, &options).map_err(unreadable)?),
    };
    let params = reader
        .tracks()
        .first()
        .map(|track| (track.codec_params.sample_rate, track.codec_params.n_frames));
    let (rate, promised) = match params {
        Some((Some(rate), promised)) if rate > 0 => (rate, promised),
        _ => return Err(damaged(format, path, "no sample rate in the stream")),
    };
    let mut samples = 0u64;
    let mut bytes = 0u64;
    loop {
        match reader.next_packet() {
            Ok(packet) => {
                samples = samples.saturating_add(packet.dur);
                bytes += packet.buf().len() as u64;
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(source) => {
                return Err(AudioError::Unreadable {
                    format,
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(Counted {
        samples,
        bytes,
        rate,
        promised,
    })
}

/// The length of `fLaC` and the metadata blocks: where the first FLAC frame starts.
fn flac_metadata_len(path: &Path, file: &mut File, len: u64) -> Result<u64, AudioError> {
    let mut pos = 4u64;
    loop {
        let mut header = [0u8; 4];
        if !read_at(file, path, pos, &mut header)? {
            return Err(damaged(
                AudioFormat::Flac,
                path,
                "the metadata blocks are cut short",
            ));
        }
        pos += 4 + u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
        if pos > len {
            return Err(damaged(
                AudioFormat::Flac,
                path,
                "a metadata block runs past the end of the file",
            ));
        }
        if header[0] & 0x80 != 0 {
            return Ok(pos);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WAV

/// Where a wav file's samples are and what they are.
struct WavLayout {
    /// The `fmt ` chunk body, copied into a joined file's header.
    fmt: Vec<u8>,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    data_start: u64,
    /// Bytes of sample data actually in the file.
    data_len: u64,
}

impl WavLayout {
    fn seconds(&self) -> f64 {
        (self.data_len / u64::from(self.block_align)) as f64 / f64::from(self.sample_rate)
    }

    fn describe(&self) -> String {
        let channels = match self.channels {
            1 => "mono".to_string(),
            2 => "stereo".to_string(),
            n => format!("{n} channels"),
        };
        let tag = u16::from_le_bytes([self.fmt[0], self.fmt[1]]);
        let bits = u16::from_le_bytes([self.fmt[14], self.fmt[15]]);
        format!(
            "{} Hz {channels}, {bits}-bit, format tag {tag:#06x}",
            self.sample_rate
        )
    }
}

/// Larger `fmt ` chunks than this are not real (WAVE_FORMAT_EXTENSIBLE's is 40 bytes).
const MAX_FMT: u32 = 1024;

/// Walks the RIFF chunks to `fmt ` and `data`. The RIFF size is ignored and a data size of
/// 0xFFFFFFFF, or one past the end of the file, means the data runs to the end: that is how
/// streamed wav arrives.
fn parse_wav(path: &Path, file: &mut File, len: u64) -> Result<WavLayout, AudioError> {
    let format = AudioFormat::Wav;
    let mut riff = [0u8; 12];
    if !read_at(file, path, 0, &mut riff)? || &riff[..4] != b"RIFF" || &riff[8..] != b"WAVE" {
        return Err(not_format(format, path, &riff));
    }
    let mut pos = 12u64;
    let mut fmt: Option<Vec<u8>> = None;
    loop {
        let mut chunk = [0u8; 8];
        if !read_at(file, path, pos, &mut chunk)? {
            return Err(damaged(
                format,
                path,
                "no data chunk before the end of the file",
            ));
        }
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        let body = pos + 8;
        match &chunk[..4] {
            b"fmt " => {
                if !(16..=MAX_FMT).contains(&size) {
                    return Err(damaged(format, path, format!("fmt chunk of {size} bytes")));
                }
                let mut bytes = vec![0u8; size as usize];
                if !read_at(file, path, body, &mut bytes)? {
                    return Err(damaged(format, path, "the fmt chunk is cut short"));
                }
                fmt = Some(bytes);
            }
            b"data" => {
                let Some(fmt) = fmt else {
                    return Err(damaged(format, path, "data chunk before the fmt chunk"));
                };
                let channels = u16::from_le_bytes([fmt[2], fmt[3]]);
                let sample_rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let block_align = u16::from_le_bytes([fmt[12], fmt[13]]);
                if channels == 0 || sample_rate == 0 || block_align == 0 {
                    return Err(damaged(
                        format,
                        path,
                        "the fmt chunk gives no channels, sample rate or block size",
                    ));
                }
                let available = len.saturating_sub(body);
                let data_len = if size == u32::MAX {
                    available
                } else {
                    u64::from(size).min(available)
                };
                return Ok(WavLayout {
                    fmt,
                    channels,
                    sample_rate,
                    block_align,
                    data_start: body,
                    data_len,
                });
            }
            _ => {}
        }
        // Chunks are padded to even sizes.
        pos = body + u64::from(size) + u64::from(size & 1);
    }
}

fn join_wav<W: Write>(
    pieces: &[PathBuf],
    writer: &mut CountingWriter<W>,
) -> Result<(), AudioError> {
    let format = AudioFormat::Wav;
    // Every header first: the joined header needs the total size, and a mismatch should be
    // found before anything is written.
    let mut layouts = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        let layout = parse_wav(piece, &mut file, len)?;
        if layout.data_len % u64::from(layout.block_align) != 0 {
            return Err(damaged(
                format,
                piece,
                "the sample data ends inside a sample frame",
            ));
        }
        layouts.push(layout);
    }
    let Some(first) = layouts.first() else {
        return Err(AudioError::CannotJoin { format, count: 0 });
    };
    for (layout, piece) in layouts.iter().zip(pieces) {
        if layout.fmt != first.fmt {
            let (first_desc, this_desc) = (first.describe(), layout.describe());
            let (first_desc, this_desc) = if first_desc == this_desc {
                // Same rate and channels: the difference is elsewhere in the fmt chunk.
                (
                    format!("{first_desc}, fmt {:02x?}", first.fmt),
                    format!("{this_desc}, fmt {:02x?}", layout.fmt),
                )
            } else {
                (first_desc, this_desc)
            };
            return Err(AudioError::Mismatch {
                format,
                path: piece.clone(),
                first: first_desc,
                this: this_desc,
            });
        }
    }
    let fmt = first.fmt.clone();
    let fmt_len = fmt.len() as u64;
    let sizes = layouts
        .iter()
        .try_fold(0u64, |total, layout| total.checked_add(layout.data_len))
        .and_then(|data_len| {
            let data_len = u32::try_from(data_len).ok()?;
            let data = u64::from(data_len);
            let riff_len = 4 + (8 + fmt_len + (fmt_len & 1)) + (8 + data + (data & 1));
            Some((u32::try_from(riff_len).ok()?, data_len))
        });
    let Some((riff_len, data_len)) = sizes else {
        return Err(AudioError::TooLarge { format });
    };
    let mut header = Vec::with_capacity(28 + fmt.len());
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&riff_len.to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    header.extend_from_slice(&fmt);
    if fmt_len & 1 == 1 {
        header.push(0);
    }
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data_len.to_le_bytes());
    writer.put(&header)?;
    // Reopened rather than kept open from the first pass, so that an item of many pieces does
    // not hold a descriptor per piece.
    for (layout, piece) in layouts.iter().zip(pieces) {
        let mut file = open(piece)?;
        file.seek(SeekFrom::Start(layout.data_start))
            .map_err(read_error(piece))?;
        copy_exact(piece, &mut file, writer, Some(layout.data_len))?;
    }
    if data_len & 1 == 1 {
        writer.put(&[0])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ogg Opus

/// What walking an Ogg Opus file's pages found.
struct OggOpus {
    pre_skip: u64,
    /// The granule position of the last page of the Opus stream that ends a packet.
    last_granule: u64,
    /// Whether that stream's end-of-stream page was seen.
    ended: bool,
}

impl OggOpus {
    fn seconds(&self) -> f64 {
        self.last_granule.saturating_sub(self.pre_skip) as f64 / 48_000.0
    }
}

const OGG_PAGE_HEADER: usize = 27;

/// Reads every Ogg page, checking its CRC, to find the Opus stream's pre-skip (from OpusHead on
/// its first page) and last granule position.
fn walk_ogg_opus(path: &Path, mut file: File) -> Result<OggOpus, AudioError> {
    let format = AudioFormat::Opus;
    file.seek(SeekFrom::Start(0)).map_err(read_error(path))?;
    let mut reader = BufReader::with_capacity(COPY_BUFFER, file);
    let mut header = [0u8; OGG_PAGE_HEADER];
    let mut lacing = [0u8; 255];
    let mut body = vec![0u8; 255 * 255];
    let mut pos = 0u64;
    let mut stream: Option<(u32, OggOpus)> = None;
    loop {
        let got = read_full(&mut reader, &mut header).map_err(read_error(path))?;
        if got == 0 {
            break;
        }
        if got < OGG_PAGE_HEADER || &header[..4] != b"OggS" || header[4] != 0 {
            return Err(damaged(
                format,
                path,
                format!("no whole Ogg page at byte {pos}"),
            ));
        }
        let segments = usize::from(header[26]);
        let lacing = &mut lacing[..segments];
        let got = read_full(&mut reader, lacing).map_err(read_error(path))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body = &mut body[..body_len];
        let got = got + read_full(&mut reader, body).map_err(read_error(path))?;
        if got < segments + body_len {
            return Err(damaged(
                format,
                path,
                format!("the Ogg page at byte {pos} is cut short"),
            ));
        }
        let stored_crc = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
        header[22..26].fill(0);
        let crc = ogg_crc(ogg_crc(ogg_crc(0, &header), lacing), body);
        if crc != stored_crc {
            return Err(damaged(
                format,
                path,
                format!("the Ogg page at byte {pos} fails its CRC"),
            ));
        }
        let flags = header[5];
        let granule = u64::from_le_bytes([
            header[6], header[7], header[8], header[9], header[10], header[11], header[12],
            header[13],
        ]);
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        match &mut stream {
            None => {
                // The first page must begin the Opus stream with its OpusHead packet.
                if flags & 0x02 == 0 || body.len() < 19 || &body[..8] != b"OpusHead" {
                    return Err(AudioError::NotFormat {
                        format,
                        path: path.to_path_buf(),
                        what: "the Ogg stream does not start with an OpusHead packet".to_string(),
                    });
                }
                let pre_skip = u64::from(u16::from_le_bytes([body[10], body[11]]));
                let state = OggOpus {
                    pre_skip,
                    last_granule: 0,
                    ended: flags & 0x04 != 0,
                };
                stream = Some((serial, state));
            }
            Some((opus_serial, state)) if *opus_serial == serial => {
                // -1 marks a page on which no packet ends.
                if granule != u64::MAX {
                    state.last_granule = granule;
                }
                state.ended |= flags & 0x04 != 0;
            }
            // Pages of other multiplexed streams do not count.
            Some(_) => {}
        }
        pos += (OGG_PAGE_HEADER + segments + body_len) as u64;
    }
    stream
        .map(|(_, state)| state)
        .ok_or_else(|| damaged(format, path, "no Ogg pages"))
}

/// The Ogg CRC-32 (polynomial 0x04C11DB7, MSB first, no reflection or final XOR), continued
/// from `crc` over `bytes`.
fn ogg_crc(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc << 8) ^ OGG_CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)];
    }
    crc
}

const OGG_CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

// The test-side synthesizer and decoder are declared here rather than inside `mod tests`: a
// `#[path]` inside an inline module resolves from `src/audio/tests/`, which does not exist.
#[cfg(test)]
#[path = "../../tests/it/support/decode.rs"]
mod decode;
#[cfg(test)]
#[path = "../../tests/it/support/synth.rs"]
mod synth;

#[cfg(test)]
mod tests {
    use super::*;
    use super::{decode, synth};
    use proptest::prelude::*;

    const JOINABLE: [AudioFormat; 4] = [
        AudioFormat::Mp3,
        AudioFormat::Aac,
        AudioFormat::Wav,
        AudioFormat::Pcm,
    ];
    const JSON_ERROR: &[u8] = br#"{"error":{"message":"Rate limit reached for tts-1","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
    const HTML: &[u8] =
        b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>";

    fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn synth_file(
        dir: &tempfile::TempDir,
        name: &str,
        format: AudioFormat,
        millis: u64,
    ) -> (PathBuf, f64) {
        let (bytes, seconds) = synth::audio(format.as_str(), millis);
        (write(dir, &format!("{name}.{format}"), &bytes), seconds)
    }

    fn head(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().min(HEAD_LEN)]
    }

    /// Joins `pieces` into a new file named `name` and checks the byte count returned.
    fn join_to(
        dir: &tempfile::TempDir,
        name: &str,
        format: AudioFormat,
        pieces: &[PathBuf],
    ) -> Result<PathBuf, AudioError> {
        let path = dir.path().join(name);
        let mut out = File::create(&path).unwrap();
        let written = join(format, pieces, &mut out)?;
        assert_eq!(written, std::fs::metadata(&path).unwrap().len());
        Ok(path)
    }

    fn assert_close(a: f64, b: f64, what: &str) {
        assert!((a - b).abs() <= 1e-9, "{what}: {a} != {b}");
    }

    /// An APEv2 tag (header, no items, footer) as some taggers append.
    fn ape_tag() -> Vec<u8> {
        let block = |flags: u32| {
            let mut b = b"APETAGEX".to_vec();
            b.extend_from_slice(&2000u32.to_le_bytes());
            b.extend_from_slice(&32u32.to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&[0; 8]);
            b
        };
        let mut tag = block(0xA000_0000);
        tag.extend_from_slice(&block(0x8000_0000));
        tag
    }

    fn id3v1_tag() -> Vec<u8> {
        let mut tag = b"TAG".to_vec();
        tag.resize(128, b' ');
        tag[127] = 0xFF;
        tag
    }

    /// A synth mp3 whose first (Info) frame is replaced by a VBRI frame.
    fn mp3_with_vbri(millis: u64) -> (Vec<u8>, f64) {
        let (mut bytes, seconds) = synth::audio("mp3", millis);
        let start = synth::id3v2_tag().len();
        let frame = &mut bytes[start..start + 192];
        frame[4..].fill(0);
        frame[36..40].copy_from_slice(b"VBRI");
        frame[40..42].copy_from_slice(&1u16.to_be_bytes());
        (bytes, seconds)
    }

    /// Bare MPEG-2 Layer III frames at 16 kHz mono (silent), a different stream from the synth's.
    fn mp3_16khz(frames: usize) -> Vec<u8> {
        let mut frame = vec![0u8; 288];
        frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x88, 0xC0]);
        frame.repeat(frames)
    }

    #[test]
    fn parses_frame_headers() {
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo, unpadded and padded.
        let info = parse_mp3_header(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
        assert_eq!(
            (info.len, info.sample_rate, info.channels),
            (417, 44_100, 2)
        );
        assert_eq!(
            parse_mp3_header(&[0xFF, 0xFB, 0x92, 0x00]).unwrap().len,
            418
        );
        // The synth's MPEG-2, 64 kbit/s, 24 kHz mono.
        let info = parse_mp3_header(&[0xFF, 0xF3, 0x84, 0xC0]).unwrap();
        assert_eq!(
            (info.len, info.sample_rate, info.channels, info.side_info),
            (192, 24_000, 1, 9)
        );
        assert!(
            parse_mp3_header(&[0xFF, 0xF3, 0x04, 0xC0]).is_err(),
            "free format"
        );
        assert!(
            parse_mp3_header(&[0xFF, 0xF3, 0xF4, 0xC0]).is_err(),
            "bad bitrate"
        );
        assert!(
            parse_mp3_header(&[0xFF, 0xF3, 0x8C, 0xC0]).is_err(),
            "bad sample rate"
        );
        assert!(
            parse_mp3_header(&[0xFF, 0xEB, 0x84, 0xC0]).is_err(),
            "reserved version"
        );
        assert!(
            parse_mp3_header(&[0xFF, 0xF5, 0x84, 0xC0]).is_err(),
            "layer II"
        );
        assert!(parse_mp3_header(&[0xFF, 0xF3]).is_err(), "short");

        let (aac, _) = synth::audio("aac", 100);
        let info = parse_adts_header(&aac).unwrap();
        assert_eq!(
            (info.len, info.sample_rate, info.channels, info.profile),
            (11, 24_000, 1, 1)
        );
        let mut crc = aac.clone();
        crc[1] = 0xF0;
        assert!(parse_adts_header(&crc).is_err());
        let mut blocks = aac.clone();
        blocks[6] |= 1;
        assert!(parse_adts_header(&blocks).is_err());
    }

    #[test]
    fn looks_like_each_format() {
        for format in AudioFormat::ALL {
            let (bytes, _) = synth::audio(format.as_str(), 500);
            assert!(looks_like(format, head(&bytes)), "{format}");
            // A head shorter than 64 bytes still matches when the body is that short.
            assert!(
                looks_like(format, &bytes[..bytes.len().min(12)]),
                "{format} short"
            );
        }
        let (wav, _) = synth::streamed_wav(100);
        assert!(looks_like(AudioFormat::Wav, head(&wav)));
        let (aac, _) = synth::audio("aac", 100);
        let mut tagged = synth::id3v2_tag();
        tagged.extend_from_slice(&aac);
        assert!(looks_like(AudioFormat::Aac, head(&tagged)));
        // MPEG-1 Layer III without a tag.
        assert!(looks_like(
            AudioFormat::Mp3,
            &[0xFF, 0xFB, 0x90, 0x64, 0, 0]
        ));
    }

    #[test]
    fn looks_like_refuses_error_bodies_and_other_formats() {
        let bodies: [&[u8]; 7] = [
            JSON_ERROR,
            b"  \n{ \"error\": \"bad\" }",
            b"\xEF\xBB\xBF{\"detail\":\"Not Found\"}",
            HTML,
            b"<html><body>oops</body></html>",
            b"Internal Server Error",
            b"",
        ];
        for format in AudioFormat::ALL {
            for body in bodies {
                assert!(
                    !looks_like(format, head(body)),
                    "{format} {:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
        // Each tagless format's head is refused by the other non-pcm formats.
        for a in [AudioFormat::Opus, AudioFormat::Flac, AudioFormat::Wav] {
            let (bytes, _) = synth::audio(a.as_str(), 100);
            for b in AudioFormat::ALL {
                if b != a && b != AudioFormat::Pcm {
                    assert!(!looks_like(b, head(&bytes)), "{a} as {b}");
                }
            }
        }
        let (aac, _) = synth::audio("aac", 100);
        assert!(!looks_like(AudioFormat::Mp3, head(&aac)));
        let (mp3, _) = synth::audio("mp3", 100);
        let bare = &mp3[synth::id3v2_tag().len()..];
        assert!(!looks_like(AudioFormat::Aac, head(bare)));
        // Invalid fields after a sync, a bad ID3 size, too-short heads.
        assert!(!looks_like(AudioFormat::Mp3, &[0xFF, 0xF3, 0xF4, 0xC0]));
        assert!(!looks_like(
            AudioFormat::Mp3,
            b"ID3\x04\x00\x00\x80\x00\x00\x00"
        ));
        assert!(!looks_like(AudioFormat::Mp3, &[0xFF]));
        assert!(!looks_like(AudioFormat::Wav, b"RIFF\x24\x00\x00\x00AVI "));
        let mut vorbis = synth::audio("opus", 100).0;
        vorbis[28..36].copy_from_slice(b"\x01vorbis\x00");
        assert!(!looks_like(AudioFormat::Opus, head(&vorbis)));
    }

    #[test]
    fn measure_and_validate_match_the_synthesizer() {
        let dir = tempfile::tempdir().unwrap();
        for format in AudioFormat::ALL {
            for millis in [1, 250, 2_000] {
                let (path, seconds) = synth_file(&dir, &format!("m{millis}"), format, millis);
                assert_eq!(
                    measure(format, &path).unwrap(),
                    seconds,
                    "{format} {millis} ms"
                );
                assert_eq!(
                    validate(format, &path).unwrap(),
                    seconds,
                    "{format} {millis} ms"
                );
                assert_close(decode::decoded_seconds(&path).unwrap(), seconds, "decoded");
            }
        }
        let (bytes, seconds) = synth::streamed_wav(700);
        let path = write(&dir, "streamed.wav", &bytes);
        assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds);
        assert_eq!(validate(AudioFormat::Wav, &path).unwrap(), seconds);
        assert_close(
            decode::decoded_seconds(&path).unwrap(),
            seconds,
            "decoded streamed wav",
        );
    }

    #[test]
    fn wav_sizes_and_chunks_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, seconds) = synth::audio("wav", 300);
        // ffmpeg's piped wav: a LIST chunk before data, both sizes 0xFFFFFFFF.
        let mut listed = bytes[..36].to_vec();
        listed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        listed.extend_from_slice(b"LIST\x1a\x00\x00\x00INFOISFT\x0e\x00\x00\x00Lavf59.27.100\x00");
        listed.extend_from_slice(b"data\xff\xff\xff\xff");
        listed.extend_from_slice(&bytes[44..]);
        // A data size larger than the file, and an odd-sized chunk with its pad byte.
        let mut oversized = bytes.clone();
        oversized[40..44].copy_from_slice(&10_000_000u32.to_le_bytes());
        let mut padded = bytes[..36].to_vec();
        padded.extend_from_slice(b"junk\x03\x00\x00\x00abc\x00");
        padded.extend_from_slice(&bytes[36..]);
        for (name, body) in [
            ("listed", &listed),
            ("oversized", &oversized),
            ("padded", &padded),
        ] {
            let path = write(&dir, &format!("{name}.wav"), body);
            assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds, "{name}");
            assert_eq!(
                validate(AudioFormat::Wav, &path).unwrap(),
                seconds,
                "{name}"
            );
        }
        // Trailing chunks after a data chunk of real size do not count as samples.
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
        let path = write(&dir, "trailing.wav", &trailing);
        assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds);
    }

    #[test]
    fn validate_refuses_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        for format in AudioFormat::ALL {
            let empty = write(&dir, &format!("empty.{format}"), b"");
            assert!(
                matches!(validate(format, &empty), Err(AudioError::Empty { .. })),
                "{format}"
            );
            let json = write(&dir, &format!("json.{format}"), JSON_ERROR);
            let err = validate(format, &json).unwrap_err();
            assert!(
                matches!(err, AudioError::NotFormat { .. }),
                "{format}: {err}"
            );
            assert!(err.to_string().contains("JSON"), "{err}");
            assert!(err.to_string().contains(&format!("json.{format}")), "{err}");
            let html = write(&dir, &format!("html.{format}"), HTML);
            assert!(matches!(
                validate(format, &html),
                Err(AudioError::NotFormat { .. })
            ));
        }
        let damaged_cases: Vec<(AudioFormat, &str, Vec<u8>)> = {
            let mp3 = synth::audio("mp3", 1_000).0;
            let aac = synth::audio("aac", 1_000).0;
            let opus = synth::audio("opus", 3_000).0;
            let flac = synth::audio("flac", 1_000).0;
            let wav = synth::audio("wav", 100).0;
            // Streamed FLAC says nothing of its length: STREAMINFO's sample count is 0.
            let mut streamed_flac = flac.clone();
            streamed_flac[21] &= 0xF0;
            streamed_flac[22..26].fill(0);
            let mut junk_mp3 = mp3.clone();
            junk_mp3.splice(2_000..2_000, [0u8; 7]);
            let mut bad_crc = opus.clone();
            let last = bad_crc.len() - 1;
            bad_crc[last] ^= 1;
            // Cut at the end of the second audio page: whole pages, but no end-of-stream page.
            let second_page_end = 28 + 19 + 28 + 60 + 2 * (27 + 50 + 150);
            let mut no_data = wav[..36].to_vec();
            no_data.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
            let mut stereo_mid = mp3.clone();
            stereo_mid[synth::id3v2_tag().len() + 192 * 5 + 3] = 0x00;
            vec![
                (
                    AudioFormat::Mp3,
                    "cut mid-frame",
                    mp3[..mp3.len() - 50].to_vec(),
                ),
                (
                    AudioFormat::Mp3,
                    "cut in a header",
                    mp3[..mp3.len() - 190].to_vec(),
                ),
                (AudioFormat::Mp3, "junk between frames", junk_mp3),
                (AudioFormat::Mp3, "mode change mid-stream", stereo_mid),
                (
                    AudioFormat::Mp3,
                    "cut inside the ID3 tag",
                    mp3[..20].to_vec(),
                ),
                (
                    AudioFormat::Aac,
                    "cut mid-frame",
                    aac[..aac.len() - 3].to_vec(),
                ),
                (AudioFormat::Opus, "bad page CRC", bad_crc),
                (
                    AudioFormat::Opus,
                    "cut mid-page",
                    opus[..opus.len() - 10].to_vec(),
                ),
                (
                    AudioFormat::Opus,
                    "no end of stream",
                    opus[..second_page_end].to_vec(),
                ),
                (
                    AudioFormat::Flac,
                    "cut mid-frame",
                    flac[..flac.len() - 1_000].to_vec(),
                ),
                (
                    AudioFormat::Flac,
                    "streamed, cut mid-frame",
                    streamed_flac[..flac.len() - 1_000].to_vec(),
                ),
                (
                    AudioFormat::Flac,
                    "cut in the metadata",
                    flac[..30].to_vec(),
                ),
                (AudioFormat::Wav, "no data chunk", no_data),
                (
                    AudioFormat::Wav,
                    "partial sample",
                    wav[..wav.len() - 1].to_vec(),
                ),
                (AudioFormat::Pcm, "odd length", vec![0u8; 101]),
            ]
        };
        for (i, (format, what, bytes)) in damaged_cases.iter().enumerate() {
            let path = write(&dir, &format!("damaged{i}.{format}"), bytes);
            let result = validate(*format, &path);
            assert!(
                matches!(result, Err(AudioError::Damaged { .. })),
                "{format} {what}: {result:?}"
            );
        }
        // Whole but empty: only the tag and the Info frame.
        let mp3 = synth::audio("mp3", 100).0;
        let tags_only = write(&dir, "tags.mp3", &mp3[..synth::id3v2_tag().len() + 192]);
        assert!(matches!(
            validate(AudioFormat::Mp3, &tags_only),
            Err(AudioError::NoAudio { .. })
        ));
        assert_eq!(measure(AudioFormat::Mp3, &tags_only).unwrap(), 0.0);
        // A cut exactly between frames is not detectable, and measures what is there.
        let cut = write(&dir, "cut.mp3", &mp3[..mp3.len() - 192]);
        assert_close(
            validate(AudioFormat::Mp3, &cut).unwrap(),
            0.096 - 0.024,
            "cut mp3",
        );
    }

    #[test]
    fn trailing_tags_and_vbri_are_not_audio() {
        let dir = tempfile::tempdir().unwrap();
        let (mp3, seconds) = synth::audio("mp3", 500);
        let mut tagged = mp3.clone();
        tagged.extend_from_slice(&ape_tag());
        tagged.extend_from_slice(&id3v1_tag());
        let path = write(&dir, "tagged.mp3", &tagged);
        assert_eq!(validate(AudioFormat::Mp3, &path).unwrap(), seconds);
        let (vbri, seconds) = mp3_with_vbri(500);
        let path = write(&dir, "vbri.mp3", &vbri);
        assert_eq!(validate(AudioFormat::Mp3, &path).unwrap(), seconds);
        assert_close(
            decode::decoded_seconds(&path).unwrap(),
            seconds,
            "decoded vbri",
        );
    }

    #[test]
    fn joined_wav_over_4_gib_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (header, _) = synth::streamed_wav(1);
        let big = write(&dir, "big.wav", &header[..44]);
        // Sparse: 2.5 GiB of samples that take no disk space.
        File::options()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(44 + (5 << 29))
            .unwrap();
        let err = join_to(&dir, "huge.wav", AudioFormat::Wav, &[big.clone(), big]).unwrap_err();
        assert!(matches!(err, AudioError::TooLarge { .. }), "{err}");
        assert_eq!(
            std::fs::metadata(dir.path().join("huge.wav"))
                .unwrap()
                .len(),
            0
        );
    }

    #[test]
    fn the_test_decoder_catches_corrupt_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (mut mp3, _) = synth::audio("mp3", 500);
        let frame = synth::id3v2_tag().len() + 192 * 5;
        mp3[frame + 4..frame + 13].fill(0xFF);
        let path = write(&dir, "corrupt.mp3", &mp3);
        assert!(decode::decoded_seconds(&path).is_err());
        // symphonia skips a FLAC frame that fails its CRC; the gap must still show.
        let (mut flac, _) = synth::audio("flac", 500);
        flac[5_000] ^= 0xFF;
        let path = write(&dir, "corrupt.flac", &flac);
        assert!(decode::decoded_seconds(&path).is_err());
        assert!(matches!(
            validate(AudioFormat::Flac, &path),
            Err(AudioError::Damaged { .. })
        ));
    }

    /// Pieces of each joinable format with different lengths and different wrappings.
    fn pieces_for(
        dir: &tempfile::TempDir,
        format: AudioFormat,
        count: usize,
    ) -> (Vec<PathBuf>, f64) {
        let mut paths = Vec::new();
        let mut total = 0.0;
        for i in 0..count {
            let millis = 150 + 230 * i as u64;
            let (mut bytes, _) = synth::audio(format.as_str(), millis);
            match (format, i % 3) {
                (AudioFormat::Mp3, 1) => {
                    bytes.extend_from_slice(&ape_tag());
                    bytes.extend_from_slice(&id3v1_tag());
                }
                (AudioFormat::Mp3, 2) => bytes = mp3_with_vbri(millis).0,
                (AudioFormat::Aac, 1) => {
                    let mut tagged = synth::id3v2_tag();
                    tagged.extend_from_slice(&bytes);
                    tagged.extend_from_slice(&id3v1_tag());
                    bytes = tagged;
                }
                (AudioFormat::Wav, 1) => bytes = synth::streamed_wav(millis).0,
                _ => {}
            }
            let path = write(dir, &format!("piece{i}.{format}"), &bytes);
            total += measure(format, &path).unwrap();
            paths.push(path);
        }
        (paths, total)
    }

    #[test]
    fn joined_duration_is_the_sum_of_the_pieces() {
        let dir = tempfile::tempdir().unwrap();
        for format in JOINABLE {
            for count in [1, 2, 5] {
                let (pieces, total) = pieces_for(&dir, format, count);
                let joined =
                    join_to(&dir, &format!("joined{count}.{format}"), format, &pieces).unwrap();
                let what = format!("{format} x{count}");
                assert_close(measure(format, &joined).unwrap(), total, &what);
                assert_close(validate(format, &joined).unwrap(), total, &what);
                assert_close(decode::decoded_seconds(&joined).unwrap(), total, &what);
            }
        }
    }

    #[test]
    fn joined_mp3_is_bare_frames() {
        let dir = tempfile::tempdir().unwrap();
        let (pieces, total) = pieces_for(&dir, AudioFormat::Mp3, 3);
        let joined = join_to(&dir, "bare.mp3", AudioFormat::Mp3, &pieces).unwrap();
        let bytes = std::fs::read(&joined).unwrap();
        assert_eq!(bytes.len() % 192, 0);
        assert_eq!(bytes.len() / 192, (total / 0.024).round() as usize);
        for frame in bytes.chunks(192) {
            assert_eq!(&frame[..4], &[0xFF, 0xF3, 0x84, 0xC0]);
            assert!(!is_tag_frame(frame, &parse_mp3_header(frame).unwrap()));
        }
        assert!(!bytes.windows(3).any(|w| w == b"ID3" || w == b"TAG"));
    }

    #[test]
    fn joined_wav_has_a_real_header() {
        let dir = tempfile::tempdir().unwrap();
        let (pieces, total) = pieces_for(&dir, AudioFormat::Wav, 2);
        let joined = join_to(&dir, "real.wav", AudioFormat::Wav, &pieces).unwrap();
        let bytes = std::fs::read(&joined).unwrap();
        let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
        let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
        assert_eq!(riff as usize, bytes.len() - 8);
        assert_eq!(data as usize, bytes.len() - 44);
        assert_close(data as f64 / 2.0 / 24_000.0, total, "wav data");
    }

    #[test]
    fn single_flac_and_opus_are_copied_and_more_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for format in [AudioFormat::Flac, AudioFormat::Opus] {
            let (a, _) = synth_file(&dir, "a", format, 300);
            let (b, _) = synth_file(&dir, "b", format, 300);
            let err = join_to(&dir, &format!("two.{format}"), format, &[a.clone(), b]).unwrap_err();
            assert!(
                matches!(err, AudioError::CannotJoin { count: 2, .. }),
                "{err}"
            );
            assert_eq!(err.to_string(), format!("cannot join 2 pieces of {format}"));
            let one = join_to(
                &dir,
                &format!("one.{format}"),
                format,
                std::slice::from_ref(&a),
            )
            .unwrap();
            assert_eq!(std::fs::read(one).unwrap(), std::fs::read(a).unwrap());
        }
        for format in AudioFormat::ALL {
            let err = join_to(&dir, &format!("none.{format}"), format, &[]).unwrap_err();
            assert!(
                matches!(err, AudioError::CannotJoin { count: 0, .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn join_refuses_different_streams() {
        let dir = tempfile::tempdir().unwrap();
        let (mp3, _) = synth_file(&dir, "base", AudioFormat::Mp3, 300);
        let slow = write(&dir, "slow.mp3", &mp3_16khz(5));
        let mut stereo = std::fs::read(&mp3).unwrap();
        let start = synth::id3v2_tag().len();
        for frame in stereo[start..].chunks_mut(192) {
            frame[3] = 0x00;
        }
        let stereo = write(&dir, "stereo.mp3", &stereo);

        let (aac, _) = synth_file(&dir, "base", AudioFormat::Aac, 300);
        let mut other = std::fs::read(&aac).unwrap();
        for frame in other.chunks_mut(11) {
            frame[2] = (frame[2] & !0x3C) | (3 << 2); // 48 kHz
        }
        let other_aac = write(&dir, "other.aac", &other);

        let (wav, _) = synth_file(&dir, "base", AudioFormat::Wav, 300);
        let mut other = std::fs::read(&wav).unwrap();
        other[24..28].copy_from_slice(&16_000u32.to_le_bytes());
        let other_wav = write(&dir, "other.wav", &other);
        let mut float = std::fs::read(&wav).unwrap();
        float[20] = 3;
        let float_wav = write(&dir, "float.wav", &float);

        let cases = [
            (AudioFormat::Mp3, &mp3, &slow),
            (AudioFormat::Mp3, &mp3, &stereo),
            (AudioFormat::Mp3, &slow, &mp3),
            (AudioFormat::Aac, &aac, &other_aac),
            (AudioFormat::Wav, &wav, &other_wav),
            (AudioFormat::Wav, &wav, &float_wav),
        ];
        for (i, (format, a, b)) in cases.into_iter().enumerate() {
            let pieces = [a.clone(), a.clone(), b.clone()];
            let err = join_to(&dir, &format!("mixed{i}.{format}"), format, &pieces).unwrap_err();
            assert!(
                matches!(err, AudioError::Mismatch { .. }),
                "{format} case {i}: {err}"
            );
            assert!(err.to_string().contains(&b.display().to_string()), "{err}");
        }
    }

    #[test]
    fn join_refuses_damaged_pieces() {
        let dir = tempfile::tempdir().unwrap();
        for format in JOINABLE {
            let (good, _) = synth_file(&dir, "good", format, 300);
            let bytes = std::fs::read(&good).unwrap();
            let bad = write(&dir, &format!("bad.{format}"), &bytes[..bytes.len() - 1]);
            let err = join_to(&dir, &format!("out.{format}"), format, &[good, bad]).unwrap_err();
            assert!(matches!(err, AudioError::Damaged { .. }), "{format}: {err}");
        }
        let missing = dir.path().join("missing.mp3");
        let err = join_to(&dir, "out2.mp3", AudioFormat::Mp3, &[missing]).unwrap_err();
        assert!(matches!(err, AudioError::Read { .. }), "{err}");
    }

    /// Runs everything on `bytes` as every format, as the only piece and next to a good one.
    fn exercise(bytes: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        for format in AudioFormat::ALL {
            let path = write(&dir, &format!("x.{format}"), bytes);
            let _ = looks_like(format, head(bytes));
            let _ = validate(format, &path);
            let _ = measure(format, &path);
            let (good, _) = synth_file(&dir, "good", format, 40);
            for pieces in [
                vec![path.clone()],
                vec![good.clone(), path.clone()],
                vec![path, good],
            ] {
                let _ = join_to(&dir, &format!("out.{format}"), format, &pieces);
            }
        }
    }

    /// Headers that lead each parser past its first check.
    fn prefixes() -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = vec![
            Vec::new(),
            b"ID3\x04\x00\x00\x00\x00\x00\x10".to_vec(),
            vec![0xFF, 0xF3, 0x84, 0xC0],
            vec![0xFF, 0xFB, 0x90, 0x00],
            vec![0xFF, 0xF1, 0x58, 0x40],
            b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xc0\x5d\x00\x00\x80\xbb\x00\x00\x02\x00\x10\x00data".to_vec(),
            b"RIFF\x00\x00\x00\x00WAVE".to_vec(),
            b"fLaC\x80\x00\x00\x22".to_vec(),
            b"OggS\x00\x02".to_vec(),
        ];
        for format in AudioFormat::ALL {
            let (bytes, _) = synth::audio(format.as_str(), 30);
            out.push(bytes[..bytes.len().min(80)].to_vec());
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(
            prefix in proptest::sample::select(prefixes()),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut bytes = prefix;
            bytes.extend_from_slice(&tail);
            exercise(&bytes);
        }

        #[test]
        fn damaged_audio_never_panics(
            format in proptest::sample::select(AudioFormat::ALL.to_vec()),
            millis in 1u64..200,
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<proptest::sample::Index>(),
        ) {
            let (mut bytes, _) = synth::audio(format.as_str(), millis);
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep.max(bytes.len() / 2));
            exercise(&bytes);
        }
    }
}
