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
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use symphonia::core::errors::Error as SymphoniaError;

use crate::domain::AudioFormat;

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

use flac::flac_metadata_len;
use frames::walk_frames;
pub use join::join;
use measure::{Demuxer, measure_with_symphonia};
use mp3::parse_mp3_header;
use ogg::walk_ogg_opus;
use sniff::{adts_sync, non_audio_kind, not_format, opus_head_where_visible};
use tags::{Region, audio_region, id3v2_at_start};
use wav::parse_wav;

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

pub(super) fn damaged(format: AudioFormat, path: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Damaged {
        format,
        path: path.to_path_buf(),
        detail: detail.into(),
    }
}

pub(super) fn read_error(path: &Path) -> impl Fn(io::Error) -> AudioError + '_ {
    move |source| AudioError::Read {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn open(path: &Path) -> Result<File, AudioError> {
    File::open(path).map_err(read_error(path))
}

pub(super) fn file_len(file: &File, path: &Path) -> Result<u64, AudioError> {
    Ok(file.metadata().map_err(read_error(path))?.len())
}

/// Reads into `buf` until it is full or the input ends; returns how much was read.
pub(super) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
pub(super) fn read_at(
    file: &mut File,
    path: &Path,
    offset: u64,
    buf: &mut [u8],
) -> Result<bool, AudioError> {
    file.seek(SeekFrom::Start(offset))
        .map_err(read_error(path))?;
    Ok(read_full(file, buf).map_err(read_error(path))? == buf.len())
}

pub(super) fn read_head(file: &mut File, path: &Path) -> Result<Vec<u8>, AudioError> {
    let mut head = vec![0; HEAD_LEN];
    let n = read_full(file, &mut head).map_err(read_error(path))?;
    head.truncate(n);
    Ok(head)
}

/// The size of the buffers used to copy audio around.
pub(super) const COPY_BUFFER: usize = 64 * 1024;

/// A writer that counts what went through it, for `join`'s return value.
pub(super) struct CountingWriter<W: Write> {
    pub(super) inner: W,
    pub(super) written: u64,
}

impl<W: Write> CountingWriter<W> {
    pub(super) fn put(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// Copies `file` from its current position to `writer`: `len` bytes, or to the end if `None`.
/// Errors if the file ends before `len` bytes.
pub(super) fn copy_exact<W: Write>(
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

pub(super) fn pcm_seconds(len: u64) -> f64 {
    (len / 2) as f64 / f64::from(PCM_RATE)
}

/// The sample rate of the API's raw pcm output.
pub(super) const PCM_RATE: u32 = 24_000;

// The test-side synthesizer and decoder are declared here rather than inside `mod tests`: a
// `#[path]` inside an inline module resolves from `src/audio/tests/`, which does not exist.
#[cfg(test)]
#[path = "../../tests/it/support/decode.rs"]
mod decode;
#[cfg(test)]
#[path = "../../tests/it/support/synth.rs"]
pub(crate) mod synth; // the unit tests of `book/` use it too

#[cfg(test)]
mod tests {
    use super::adts::parse_adts_header;
    use super::frames::is_tag_frame;
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
