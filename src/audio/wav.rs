//! WAV: the RIFF layout, and joining the data chunks of several files under one header.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::sniff::not_format;
use super::{AudioError, CountingWriter, copy_exact, damaged, file_len, open, read_at, read_error};
use crate::domain::AudioFormat;

/// Where a wav file's samples are and what they are.
pub(super) struct WavLayout {
    /// The `fmt ` chunk body, copied into a joined file's header.
    pub(super) fmt: Vec<u8>,
    pub(super) channels: u16,
    pub(super) sample_rate: u32,
    pub(super) block_align: u16,
    pub(super) data_start: u64,
    /// Bytes of sample data actually in the file.
    pub(super) data_len: u64,
}

impl WavLayout {
    pub(super) fn seconds(&self) -> f64 {
        (self.data_len / u64::from(self.block_align)) as f64 / f64::from(self.sample_rate)
    }

    pub(super) fn describe(&self) -> String {
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
pub(super) const MAX_FMT: u32 = 1024;

/// Walks the RIFF chunks to `fmt ` and `data`. The RIFF size is ignored and a data size of
/// 0xFFFFFFFF, or one past the end of the file, means the data runs to the end: that is how
/// streamed wav arrives.
pub(super) fn parse_wav(path: &Path, file: &mut File, len: u64) -> Result<WavLayout, AudioError> {
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

pub(super) fn join_wav<W: Write>(
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
