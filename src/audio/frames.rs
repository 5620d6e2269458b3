//! Frame streams (MPEG audio and ADTS): walking frames back to back, and joining them.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::adts::{ADTS_HEADER, parse_adts_header};
use super::mp3::{MP3_HEADER, parse_mp3_header};
use super::tags::{Region, audio_region};
use super::{
    AudioError, COPY_BUFFER, CountingWriter, damaged, file_len, open, read_error, read_full,
};
use crate::domain::AudioFormat;

/// What a frame header says, as far as walking, joining and comparing streams goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FrameInfo {
    /// Whole frame length in bytes, header included.
    pub(super) len: usize,
    pub(super) sample_rate: u32,
    /// mp3: 1 (mono) or 2; aac: the ADTS channel configuration.
    pub(super) channels: u8,
    /// aac: the ADTS profile (object type - 1); mp3: 0.
    pub(super) profile: u8,
    /// mp3: the length of the side information after the header; aac: 0.
    pub(super) side_info: u8,
}

impl FrameInfo {
    /// Whether frames can follow each other in one stream. For mp3 the channel mode counts only
    /// as mono or not: encoders may switch between stereo and joint stereo frame by frame, and
    /// decoders (symphonia included) only care about the channel count.
    pub(super) fn same_stream(&self, other: &FrameInfo) -> bool {
        self.sample_rate == other.sample_rate
            && self.channels == other.channels
            && self.profile == other.profile
    }

    pub(super) fn describe(&self) -> String {
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
pub(super) const MAX_FRAME: usize = 8192;

/// A frame header parser: `parse_mp3_header` or `parse_adts_header`.
pub(super) type ParseHeader = fn(&[u8]) -> Result<FrameInfo, &'static str>;

/// Walks the frames of `region` strictly back to back, handing each whole frame to `on_frame`
/// with its index and header, and checking every frame is of the same stream as the first.
pub(super) fn walk_frames(
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
pub(super) fn is_tag_frame(frame: &[u8], info: &FrameInfo) -> bool {
    is_xing_frame(frame, info) || is_vbri_frame(frame)
}

pub(super) fn is_xing_frame(frame: &[u8], info: &FrameInfo) -> bool {
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

pub(super) fn is_vbri_frame(frame: &[u8]) -> bool {
    // Fixed place, 32 bytes after the header; symphonia wants 26 bytes of tag and version 1.
    const AT: usize = MP3_HEADER + 32;
    frame.len() >= AT + 26
        && frame.get(AT..AT + 4) == Some(b"VBRI")
        && frame[MP3_HEADER..AT].iter().all(|&b| b == 0)
        && frame.get(AT + 4..AT + 6) == Some(&[0, 1])
}

pub(super) fn join_frames<W: Write>(
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
