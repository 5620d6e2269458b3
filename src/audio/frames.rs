//! What MP3 and ADTS files share: a run of self-delimiting frames between tags, walked
//! strictly back to back; validated and measured in that one walk, or measured with symphonia.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::measure::{Demuxer, count_with_symphonia};
use super::tags::{Region, audio_region};
use super::{AudioError, COPY_BUFFER, adts, damaged, mp3, read_error, read_full};
use crate::domain::AudioFormat;

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

/// Walks every frame and counts its samples in the same pass: the answer is read once. The
/// count is symphonia's (what `measure` gives): every audio frame, and for mp3 not a first
/// frame that is a Xing/Info or VBRI tag (`mp3::is_tag_frame` mirrors symphonia's test).
pub(super) fn validate(
    format: AudioFormat,
    path: &Path,
    mut file: File,
    len: u64,
) -> Result<f64, AudioError> {
    let region = audio_region(format, path, &mut file, len)?;
    let (mut samples, mut rate) = (0u64, 0u32);
    walk(format, path, &mut file, region, |index, info, frame| {
        let tag = format == AudioFormat::Mp3 && index == 0 && mp3::is_tag_frame(frame, info);
        if !tag {
            samples = samples.saturating_add(info.samples);
            rate = info.sample_rate;
        }
        Ok(())
    })?;
    if rate == 0 {
        return Ok(0.0);
    }
    Ok(samples as f64 / f64::from(rate))
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
