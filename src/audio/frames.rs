//! What MP3 and ADTS files share: a run of self-delimiting frames between tags, walked
//! strictly back to back, counted (the answers' check and length, in that one walk), and
//! measured with symphonia (tests). The container files describe their frames to it
//! ([`Container`]: `mp3::FRAMES`, `adts::FRAMES`); it imports neither.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

#[cfg(test)]
use super::measure::{Demuxer, count_with_symphonia};
use super::tags::{Region, audio_region};
use super::{AudioError, COPY_BUFFER, FrameCount, damaged, read_error, read_full};
use crate::domain::AudioFormat;

/// How a container's frames are read: what `walk` needs to know of MP3 or ADTS.
pub(super) struct Container {
    pub format: AudioFormat,
    /// Bytes of a frame header.
    pub header_len: usize,
    pub parse: fn(&[u8]) -> Result<FrameInfo, &'static str>,
    /// A first frame that holds metadata, not audio (MP3's Xing/Info/VBRI frame).
    pub is_tag_frame: fn(&[u8], &FrameInfo) -> bool,
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

/// Walks the frames of `region` strictly back to back, handing each whole frame to `on_frame`
/// with its index and header, and checking every frame is of the same stream as the first.
pub(super) fn walk(
    container: &Container,
    path: &Path,
    file: &mut File,
    region: Region,
    mut on_frame: impl FnMut(usize, &FrameInfo, &[u8]) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let Container {
        format,
        header_len,
        parse,
        ..
    } = *container;
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

/// Checks every frame and counts them in the same walk ([`count`]): an answer is read once.
/// The length is symphonia's (what `measure` gives): every audio frame, and for mp3 not a
/// first frame that is a Xing/Info or VBRI tag (`mp3::is_tag_frame` mirrors symphonia's test).
pub(super) fn validate(
    container: &Container,
    path: &Path,
    file: File,
    len: u64,
) -> Result<f64, AudioError> {
    let counted = count(container, path, file, len)?;
    let samples = counted.frames.saturating_mul(counted.samples_per_frame);
    Ok(samples as f64 / f64::from(counted.sample_rate.max(1)))
}

#[cfg(test)] // the tests measure joins with symphonia, apart from the joins' own count
pub(super) fn measure(
    container: &Container,
    path: &Path,
    mut file: File,
    len: u64,
) -> Result<f64, AudioError> {
    let format = container.format;
    let region = audio_region(format, path, &mut file, len)?;
    Ok(count_with_symphonia(Demuxer::for_frames(format), path, file, region)?.seconds())
}

/// Counts the audio frames of a whole file, checking them as `walk` does; a leading tag frame
/// is not audio and is not counted.
pub(super) fn count(
    container: &Container,
    path: &Path,
    mut file: File,
    len: u64,
) -> Result<FrameCount, AudioError> {
    let format = container.format;
    let region = audio_region(format, path, &mut file, len)?;
    let mut count: Option<FrameCount> = None;
    walk(container, path, &mut file, region, |index, info, frame| {
        if index == 0 && (container.is_tag_frame)(frame, info) {
            return Ok(());
        }
        let c = count.get_or_insert(FrameCount {
            frames: 0,
            sample_rate: info.sample_rate,
            samples_per_frame: info.samples,
        });
        c.frames += 1;
        Ok(())
    })?;
    count.ok_or_else(|| AudioError::NoAudio {
        format,
        path: path.to_path_buf(),
    })
}
