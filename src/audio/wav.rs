//! WAV (RIFF/WAVE) and the API's raw PCM (24 kHz, 16-bit, mono, little-endian): reading the
//! chunks, joining sample data under one header with the true sizes, and silence as zero
//! samples.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    AudioError, Output, Timeline, copy_exact, damaged, file_len, mismatch, not_format, open,
    read_at, read_error,
};
use crate::domain::AudioFormat;

/// The sample rate of the API's raw pcm output.
const PCM_RATE: u32 = 24_000;

pub(super) fn pcm_seconds(len: u64) -> f64 {
    (len / 2) as f64 / f64::from(PCM_RATE)
}

pub(super) fn validate_pcm(path: &Path, len: u64) -> Result<f64, AudioError> {
    if !len.is_multiple_of(2) {
        return Err(damaged(
            AudioFormat::Pcm,
            path,
            format!("{len} bytes is not a whole number of 16-bit samples"),
        ));
    }
    Ok(pcm_seconds(len))
}

pub(super) fn join_pcm<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let mut timeline = Timeline::new(PCM_RATE);
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            let samples = timeline.pause_frames(pause, 1);
            write_zeros(out, samples.saturating_mul(2), 0)?;
            timeline.end = timeline.end.saturating_add(samples);
        }
        timeline.piece_starts();
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        validate_pcm(piece, len)?;
        copy_exact(piece, &mut file, out, None)?;
        timeline.end = timeline.end.saturating_add(len / 2);
    }
    Ok(timeline)
}

/// Writes `len` bytes of `value`.
fn write_zeros<W: Write + Seek>(
    out: &mut Output<W>,
    len: u64,
    value: u8,
) -> Result<(), AudioError> {
    let chunk = vec![value; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left)
            .unwrap_or(chunk.len())
            .min(chunk.len());
        out.put(&chunk[..n])?;
        left -= n as u64;
    }
    Ok(())
}

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
        format!(
            "{} Hz {channels}, {}-bit, format tag {:#06x}",
            self.sample_rate,
            self.bits(),
            self.tag()
        )
    }

    fn tag(&self) -> u16 {
        u16::from_le_bytes([self.fmt[0], self.fmt[1]])
    }

    fn bits(&self) -> u16 {
        u16::from_le_bytes([self.fmt[14], self.fmt[15]])
    }

    /// The byte of silence: 8-bit PCM is unsigned (silence is 0x80), everything else signed or
    /// float (silence is zero).
    fn silent_byte(&self) -> u8 {
        if self.tag() == 1 && self.bits() == 8 {
            0x80
        } else {
            0
        }
    }
}

/// Larger `fmt ` chunks than this are not real (WAVE_FORMAT_EXTENSIBLE's is 40 bytes).
const MAX_FMT: u32 = 1024;

/// Walks the RIFF chunks to `fmt ` and `data`. The RIFF size is ignored and a data size of
/// 0xFFFFFFFF, or one past the end of the file, means the data runs to the end: that is how
/// streamed wav arrives.
fn parse(path: &Path, file: &mut File, len: u64) -> Result<WavLayout, AudioError> {
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

fn parse_whole(path: &Path, file: &mut File, len: u64) -> Result<WavLayout, AudioError> {
    let layout = parse(path, file, len)?;
    if layout.data_len % u64::from(layout.block_align) != 0 {
        return Err(damaged(
            AudioFormat::Wav,
            path,
            "the sample data ends inside a sample frame",
        ));
    }
    Ok(layout)
}

pub(super) fn validate(path: &Path, file: &mut File, len: u64) -> Result<f64, AudioError> {
    Ok(parse_whole(path, file, len)?.seconds())
}

#[cfg(test)] // see `audio::measure`
pub(super) fn measure(path: &Path, file: &mut File, len: u64) -> Result<f64, AudioError> {
    Ok(parse(path, file, len)?.seconds())
}

/// The canonical header (RIFF, `fmt `, `data`) for `data_len` bytes of samples.
fn header(fmt: &[u8], data_len: u64) -> Result<Vec<u8>, AudioError> {
    let format = AudioFormat::Wav;
    let fmt_len = fmt.len() as u64;
    let sizes = u32::try_from(data_len).ok().and_then(|data32| {
        let riff_len = 4 + (8 + fmt_len + (fmt_len & 1)) + (8 + data_len + (data_len & 1));
        Some((u32::try_from(riff_len).ok()?, data32))
    });
    let Some((riff_len, data32)) = sizes else {
        return Err(AudioError::TooLarge { format });
    };
    let mut header = Vec::with_capacity(28 + fmt.len());
    header.extend_from_slice(b"RIFF");
    header.extend_from_slice(&riff_len.to_le_bytes());
    header.extend_from_slice(b"WAVEfmt ");
    header.extend_from_slice(&u32::try_from(fmt.len()).unwrap_or(0).to_le_bytes());
    header.extend_from_slice(fmt);
    if fmt_len & 1 == 1 {
        header.push(0);
    }
    header.extend_from_slice(b"data");
    header.extend_from_slice(&data32.to_le_bytes());
    Ok(header)
}

pub(super) fn join<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let format = AudioFormat::Wav;
    // Every header first: the joined header needs the total size, and a mismatch should be
    // found before anything is written.
    let mut layouts = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        layouts.push(parse_whole(piece, &mut file, len)?);
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
            return Err(mismatch(format, piece, first_desc, this_desc));
        }
    }
    let align = u64::from(first.block_align);
    let mut timeline = Timeline::new(first.sample_rate);
    let pauses: Vec<u64> = (1..layouts.len())
        .map(|_| timeline.pause_frames(pause, 1))
        .collect();
    let data_len = layouts
        .iter()
        .map(|l| l.data_len)
        .chain(pauses.iter().map(|p| p.saturating_mul(align)))
        .try_fold(0u64, u64::checked_add)
        .ok_or(AudioError::TooLarge { format })?;
    out.put(&header(&first.fmt, data_len)?)?;
    // Reopened rather than kept open from the first pass, so that an item of many pieces does
    // not hold a descriptor per piece.
    for (i, (layout, piece)) in layouts.iter().zip(pieces).enumerate() {
        if let Some(&frames) = i.checked_sub(1).and_then(|p| pauses.get(p)) {
            write_zeros(out, frames.saturating_mul(align), first.silent_byte())?;
            timeline.end = timeline.end.saturating_add(frames);
        }
        timeline.piece_starts();
        let mut file = open(piece)?;
        file.seek(SeekFrom::Start(layout.data_start))
            .map_err(read_error(piece))?;
        copy_exact(piece, &mut file, out, Some(layout.data_len))?;
        timeline.end = timeline.end.saturating_add(layout.data_len / align);
    }
    if data_len & 1 == 1 {
        out.put(&[0])?;
    }
    Ok(timeline)
}
