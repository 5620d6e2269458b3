//! What MP3 and ADTS files share: tags around a run of self-delimiting frames, walking those
//! frames strictly back to back, and measuring them with symphonia.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::{AdtsReader, FlacReader, MpaReader};

use super::{AudioError, COPY_BUFFER, adts, damaged, mp3, read_at, read_error, read_full};
use crate::domain::AudioFormat;

/// The bytes of a file that hold frames, between leading and trailing tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Region {
    pub start: u64,
    pub end: u64,
}

/// The size of an ID3v2 header or footer.
const ID3V2_HEADER: usize = 10;

pub(super) fn id3v2_at_start(head: &[u8]) -> bool {
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
pub(super) fn audio_region(
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

/// What a frame header says, as far as walking, joining and comparing streams goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FrameInfo {
    /// Whole frame length in bytes, header included.
    pub len: usize,
    pub sample_rate: u32,
    /// mp3: 1 (mono) or 2; aac: the ADTS channel configuration.
    pub channels: u8,
    /// aac: the ADTS profile (object type - 1); mp3: 0.
    pub profile: u8,
    /// mp3: the length of the side information after the header; aac: 0.
    pub side_info: u8,
    /// Samples each frame decodes to.
    pub samples: u64,
    /// The header bytes that name the stream, for making frames of the same stream: mp3: the
    /// 4-byte header; aac: the 7-byte ADTS header.
    pub header: [u8; 7],
}

impl FrameInfo {
    /// Whether frames can follow each other in one stream. For mp3 the channel mode counts only
    /// as mono or not: encoders may switch between stereo and joint stereo frame by frame, and
    /// decoders only care about the channel count.
    pub fn same_stream(&self, other: &FrameInfo) -> bool {
        self.sample_rate == other.sample_rate
            && self.channels == other.channels
            && self.profile == other.profile
    }

    pub fn describe(&self) -> String {
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

/// Room for any frame: Layer III frames are at most 1441 bytes (MPEG-1, 320 kbit/s, 32 kHz,
/// padded) and ADTS frame lengths are 13-bit.
const MAX_FRAME: usize = 8192;

/// A frame header parser: `mp3::parse_header` or `adts::parse_header`.
type ParseHeader = fn(&[u8]) -> Result<FrameInfo, &'static str>;

/// Walks the frames of `region` strictly back to back, handing each whole frame to `on_frame`
/// with its index and header, and checking every frame is of the same stream as the first.
pub(super) fn walk(
    format: AudioFormat,
    path: &Path,
    file: &mut File,
    region: Region,
    mut on_frame: impl FnMut(usize, &FrameInfo, &[u8]) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let (header_len, parse): (usize, ParseHeader) = if format == AudioFormat::Mp3 {
        (mp3::HEADER_LEN, mp3::parse_header)
    } else {
        (adts::HEADER_LEN, adts::parse_header)
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

pub(super) fn validate(
    format: AudioFormat,
    path: &Path,
    mut file: File,
    len: u64,
) -> Result<f64, AudioError> {
    let region = audio_region(format, path, &mut file, len)?;
    walk(format, path, &mut file, region, |_, _, _| Ok(()))?;
    Ok(count_with_symphonia(Demuxer::for_frames(format), path, file, region)?.seconds())
}

pub(super) fn measure(
    format: AudioFormat,
    path: &Path,
    mut file: File,
    len: u64,
) -> Result<f64, AudioError> {
    let region = audio_region(format, path, &mut file, len)?;
    Ok(count_with_symphonia(Demuxer::for_frames(format), path, file, region)?.seconds())
}

/// Samples counted by demuxing a stream.
pub(super) struct Counted {
    pub samples: u64,
    /// Bytes in the packets.
    pub bytes: u64,
    pub rate: u32,
    /// The total the container's header promises, if it says.
    pub promised: Option<u64>,
}

impl Counted {
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.rate)
    }
}

/// The symphonia readers we measure with.
#[derive(Clone, Copy)]
pub(super) enum Demuxer {
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

/// Demuxes `region` of `file` with the format's symphonia reader and sums packet durations,
/// handing each packet to `on_packet` (its bytes and duration in samples).
///
/// The source is deliberately not seekable: symphonia 0.5's ADTS reader estimates the duration of
/// a seekable stream with arithmetic that overflows (a panic in debug builds) on short or odd
/// input, and the estimates of its readers are not wanted here anyway.
pub(super) fn demux_with_symphonia(
    demuxer: Demuxer,
    path: &Path,
    mut file: File,
    region: Region,
    mut on_packet: impl FnMut(&[u8], u64) -> Result<(), AudioError>,
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
                on_packet(packet.buf(), packet.dur)?;
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

pub(super) fn count_with_symphonia(
    demuxer: Demuxer,
    path: &Path,
    file: File,
    region: Region,
) -> Result<Counted, AudioError> {
    demux_with_symphonia(demuxer, path, file, region, |_, _| Ok(()))
}
