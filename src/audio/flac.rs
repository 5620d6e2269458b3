//! FLAC: measuring and validating with symphonia, joining pieces into one stream by splicing
//! their frames, and silence as constant-zero subframes.
//!
//! A joined file has one STREAMINFO (the first piece's, with the total samples, the true block
//! and frame sizes, and an MD5 of zero, which means unknown) and every frame of every piece
//! renumbered: FLAC frames carry their position (a frame number when every block has the same
//! size, a sample number when sizes vary), and the pieces' last blocks are short, so the joined
//! stream uses variable block sizes and numbers each frame by its first sample. The frame
//! header's CRC-8 and the frame's CRC-16 are recomputed; the audio bytes are copied unchanged,
//! so the join is lossless and exact without decoding.

use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::measure::{self, Demuxer};
use super::tags::Region;
use super::{AudioError, BitWriter, Output, Timeline, damaged, file_len, mismatch, open, read_at};
use crate::domain::AudioFormat;

/// The stream properties in STREAMINFO that every piece of a join must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct StreamInfo {
    sample_rate: u32,
    channels: u8,
    bits: u8,
}

impl StreamInfo {
    fn parse(block: &[u8; 34]) -> StreamInfo {
        let sample_rate =
            (u32::from(block[10]) << 12) | (u32::from(block[11]) << 4) | u32::from(block[12] >> 4);
        StreamInfo {
            sample_rate,
            channels: ((block[12] >> 1) & 0b111) + 1,
            bits: (((block[12] & 1) << 4) | (block[13] >> 4)) + 1,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} Hz, {} channels, {}-bit",
            self.sample_rate, self.channels, self.bits
        )
    }
}

/// What the joined STREAMINFO states, gathered while writing frames.
#[derive(Default)]
struct Totals {
    samples: u64,
    min_block: Option<u64>,
    max_block: u64,
    min_frame: Option<u64>,
    max_frame: u64,
}

impl Totals {
    fn add(&mut self, block: u64, frame_len: u64) {
        self.min_block = Some(self.min_block.map_or(block, |m| m.min(block)));
        self.max_block = self.max_block.max(block);
        self.min_frame = Some(self.min_frame.map_or(frame_len, |m| m.min(frame_len)));
        self.max_frame = self.max_frame.max(frame_len);
        self.samples = self.samples.saturating_add(block);
    }

    /// The 34-byte STREAMINFO body.
    fn streaminfo(&self, stream: &StreamInfo) -> Result<Vec<u8>, AudioError> {
        if self.samples >= 1 << 36 {
            return Err(AudioError::TooLarge {
                format: AudioFormat::Flac,
            });
        }
        // The minimum counts the last block too (a bound all the same), and is never the
        // maximum: readers take equal sizes for a stream of fixed blocks numbered by frame, and
        // ours is numbered by sample. The format allows no minimum under 16.
        let max_block = self.max_block.clamp(16, 65_535);
        let min_block = self
            .min_block
            .unwrap_or(16)
            .min(max_block.saturating_sub(1))
            .clamp(16, 65_535);
        let mut b = BitWriter::default();
        b.put(16, min_block);
        b.put(16, max_block);
        b.put(24, self.min_frame.unwrap_or(0).min(0xFF_FFFF));
        b.put(24, self.max_frame.min(0xFF_FFFF));
        b.put(20, u64::from(stream.sample_rate));
        b.put(3, u64::from(stream.channels.saturating_sub(1)));
        b.put(5, u64::from(stream.bits.saturating_sub(1)));
        b.put(36, self.samples);
        let mut block = b.finish();
        block.extend_from_slice(&[0; 16]); // MD5 of the samples: unknown
        Ok(block)
    }
}

/// Reads a FLAC file's STREAMINFO and where its first frame starts.
fn read_streaminfo(
    path: &Path,
    file: &mut File,
    len: u64,
) -> Result<(StreamInfo, u64), AudioError> {
    let format = AudioFormat::Flac;
    let mut head = [0u8; 42];
    if !read_at(file, path, 0, &mut head)? || &head[..4] != b"fLaC" || head[4] & 0x7F != 0 {
        return Err(damaged(format, path, "no STREAMINFO block after fLaC"));
    }
    let mut block = [0u8; 34];
    block.copy_from_slice(&head[8..42]);
    let info = StreamInfo::parse(&block);
    if info.sample_rate == 0 {
        return Err(damaged(format, path, "STREAMINFO gives no sample rate"));
    }
    Ok((info, metadata_len(path, file, len)?))
}

/// The length of `fLaC` and the metadata blocks: where the first FLAC frame starts.
fn metadata_len(path: &Path, file: &mut File, len: u64) -> Result<u64, AudioError> {
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

pub(super) fn validate(path: &Path, mut file: File, len: u64) -> Result<f64, AudioError> {
    let format = AudioFormat::Flac;
    let region = Region { start: 0, end: len };
    let metadata = metadata_len(path, &mut file, len)?;
    let counted = measure::count_with_symphonia(Demuxer::Flac, path, file, region)?;
    // Streamed FLAC (as the API sends it) has no sample count in STREAMINFO, so a cut is found
    // by the bytes that no whole frame accounts for.
    if metadata.saturating_add(counted.bytes) != len {
        return Err(damaged(
            format,
            path,
            format!(
                "{} of its {len} bytes are not in whole frames",
                len.saturating_sub(metadata.saturating_add(counted.bytes))
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
    Ok(counted.seconds())
}

#[cfg(test)] // see `audio::measure`
pub(super) fn measure(path: &Path, file: File, len: u64) -> Result<f64, AudioError> {
    let region = Region { start: 0, end: len };
    Ok(measure::count_with_symphonia(Demuxer::Flac, path, file, region)?.seconds())
}

/// The header of the STREAMINFO block of a file that has no other metadata.
const STREAMINFO_HEADER: [u8; 4] = [0x80, 0, 0, 34];

/// The frame header fields of a stream's frames that silent frames copy: ffmpeg's FLAC parser
/// finds frame boundaries by chains of headers that agree, so a silent frame that named its
/// rate and sample size by "see STREAMINFO" would be taken for part of its neighbour.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HeaderCodes {
    /// The sample rate code (low nibble of the third header byte).
    rate: u8,
    /// The bytes of the rate the code may point to (after the block size bytes).
    rate_extra: Vec<u8>,
    /// The sample size code (bits 3..1 of the fourth header byte).
    bits: u8,
}

impl HeaderCodes {
    /// The codes of a whole frame's header, once `renumber` has checked its shape.
    fn of(frame: &[u8]) -> Option<HeaderCodes> {
        let (&sizes, &layout, &first) = (frame.get(2)?, frame.get(3)?, frame.get(4)?);
        let number_len = match first.leading_ones() {
            0 => 1,
            n @ 2..=7 => n as usize,
            _ => return None,
        };
        let block_extra = match sizes >> 4 {
            6 => 1,
            7 => 2,
            _ => 0,
        };
        let rate_len = match sizes & 0x0F {
            12 => 1,
            13 | 14 => 2,
            _ => 0,
        };
        let at = 4 + number_len + block_extra;
        Some(HeaderCodes {
            rate: sizes & 0x0F,
            rate_extra: frame.get(at..at + rate_len)?.to_vec(),
            bits: (layout >> 1) & 0b111,
        })
    }
}

/// Writes one FLAC stream: STREAMINFO first (patched at the end), then renumbered frames.
struct StreamWriter {
    stream: StreamInfo,
    /// The header codes of the first frame written, for silent frames.
    codes: Option<HeaderCodes>,
    info_at: u64,
    totals: Totals,
    timeline: Timeline,
}

impl StreamWriter {
    fn start<W: Write + Seek>(
        stream: StreamInfo,
        out: &mut Output<W>,
    ) -> Result<StreamWriter, AudioError> {
        out.put(b"fLaC")?;
        out.put(&STREAMINFO_HEADER)?;
        let info_at = out.written;
        out.put(&[0; 34])?;
        Ok(StreamWriter {
            stream,
            codes: None,
            info_at,
            totals: Totals::default(),
            timeline: Timeline::new(stream.sample_rate),
        })
    }

    /// Writes a frame of a piece, renumbered to start at the stream's current sample.
    fn frame<W: Write + Seek>(
        &mut self,
        path: &Path,
        frame: &[u8],
        block: u64,
        out: &mut Output<W>,
    ) -> Result<(), AudioError> {
        let frame = renumber(frame, self.totals.samples)
            .map_err(|why| damaged(AudioFormat::Flac, path, why))?;
        if self.codes.is_none() {
            self.codes = HeaderCodes::of(&frame);
        }
        self.put(&frame, block, out)
    }

    fn put<W: Write + Seek>(
        &mut self,
        frame: &[u8],
        block: u64,
        out: &mut Output<W>,
    ) -> Result<(), AudioError> {
        self.totals.add(block, frame.len() as u64);
        self.timeline.end = self.totals.samples;
        out.put(frame)
    }

    /// Writes `samples` of silence as frames of up to 4096 samples.
    fn silence<W: Write + Seek>(
        &mut self,
        samples: u64,
        out: &mut Output<W>,
    ) -> Result<(), AudioError> {
        const BLOCK: u64 = 4096;
        let mut left = samples;
        while left > 0 {
            // A remainder under 16 samples joins the block before it rather than making a
            // block shorter than the format's minimum.
            let block = if left < 2 * BLOCK && left > BLOCK {
                if left - BLOCK < 16 { left } else { BLOCK }
            } else {
                left.min(BLOCK)
            };
            let frame = silent_frame(
                &self.stream,
                self.codes.as_ref(),
                self.totals.samples,
                block,
            );
            self.put(&frame, block, out)?;
            left -= block;
        }
        Ok(())
    }

    fn finish<W: Write + Seek>(self, out: &mut Output<W>) -> Result<Timeline, AudioError> {
        out.patch(self.info_at, &self.totals.streaminfo(&self.stream)?)?;
        Ok(self.timeline)
    }
}

pub(super) fn join<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let format = AudioFormat::Flac;
    let mut writer: Option<StreamWriter> = None;
    for (i, piece) in pieces.iter().enumerate() {
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        let (stream, metadata) = read_streaminfo(piece, &mut file, len)?;
        let writer = match &mut writer {
            Some(writer) => {
                if writer.stream != stream {
                    return Err(mismatch(
                        format,
                        piece,
                        writer.stream.describe(),
                        stream.describe(),
                    ));
                }
                writer
            }
            None => writer.insert(StreamWriter::start(stream, out)?),
        };
        if i > 0 {
            let samples = writer.timeline.pause_frames(pause, 1);
            writer.silence(samples, out)?;
        }
        writer.timeline.piece_starts();
        let region = Region { start: 0, end: len };
        let counted =
            measure::demux_with_symphonia(Demuxer::Flac, piece, file, region, |frame, dur| {
                writer.frame(piece, frame, dur, out)
            })?;
        if metadata.saturating_add(counted.bytes) != len {
            return Err(damaged(
                format,
                piece,
                "its bytes are not all in whole frames",
            ));
        }
    }
    match writer {
        Some(writer) => writer.finish(out),
        None => Err(AudioError::CannotJoin { format, count: 0 }),
    }
}

/// `frame` (a whole FLAC frame, sync code to CRC-16) with its header numbering it by its first
/// sample, `sample`, in a variable-block-size stream; both CRCs recomputed. The error says
/// what is wrong with the frame.
fn renumber(frame: &[u8], sample: u64) -> Result<Vec<u8>, &'static str> {
    let &[0xFF, sync, sizes, layout, first, ..] = frame else {
        return Err("a frame without a FLAC frame header");
    };
    if sync & 0xFE != 0xF8 || frame.len() < 8 {
        return Err("a frame without a FLAC frame sync code");
    }
    let (body_crc, stored) = frame.split_at(frame.len() - 2);
    if crc16(body_crc).to_be_bytes() != stored {
        return Err("a frame fails its CRC-16");
    }
    let number_len = match first.leading_ones() {
        0 => 1,
        n @ 2..=7 => n as usize,
        _ => return Err("a frame header with a bad frame number"),
    };
    let block_extra = match sizes >> 4 {
        6 => 1,
        7 => 2,
        _ => 0,
    };
    let rate_extra = match sizes & 0x0F {
        12 => 1,
        13 | 14 => 2,
        _ => 0,
    };
    let extra_at = 4 + number_len;
    let header_end = extra_at + block_extra + rate_extra;
    let (Some(extra), Some(body)) = (
        frame.get(extra_at..header_end),
        frame.get(header_end + 1..frame.len() - 2),
    ) else {
        return Err("a frame shorter than its header");
    };
    let mut out = Vec::with_capacity(frame.len() + 6);
    out.extend_from_slice(&[0xFF, 0xF9, sizes, layout]);
    out.extend_from_slice(&coded_number(sample));
    out.extend_from_slice(extra);
    out.push(crc8(&out));
    out.extend_from_slice(body);
    let crc = crc16(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// A frame of `block` samples of digital silence at sample `sample`: each channel a CONSTANT
/// subframe of value 0; the rate and sample size coded as the stream's frames code them
/// (`codes`), else as "see STREAMINFO".
fn silent_frame(
    stream: &StreamInfo,
    codes: Option<&HeaderCodes>,
    sample: u64,
    block: u64,
) -> Vec<u8> {
    let block = block.clamp(1, 65_536);
    let (rate, rate_extra, bits) =
        codes.map_or((0, &[][..], 0), |c| (c.rate, &c.rate_extra[..], c.bits));
    let mut frame = vec![
        0xFF,
        0xF9,
        0x70 | rate, // block size: 16 bits after the number
        ((stream.channels.saturating_sub(1) & 0x07) << 4) | (bits << 1), // independent channels
    ];
    frame.extend_from_slice(&coded_number(sample));
    frame.extend_from_slice(&u16::try_from(block - 1).unwrap_or(u16::MAX).to_be_bytes());
    frame.extend_from_slice(rate_extra);
    frame.push(crc8(&frame));
    let mut subframes = BitWriter::default();
    for _ in 0..stream.channels {
        subframes.put(8, 0); // padding bit, CONSTANT, no wasted bits
        subframes.put(u32::from(stream.bits), 0);
    }
    frame.extend_from_slice(&subframes.finish());
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

/// FLAC's UTF-8-like coding of a frame or sample number (up to 36 bits).
fn coded_number(n: u64) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    // k continuation bytes carry 6 bits each; the first byte 6 - k more.
    let k = (1..=6u32).find(|k| n < 1u64 << (5 * k + 6)).unwrap_or(6);
    let mut out = Vec::with_capacity(k as usize + 1);
    let lead = (0xFF00u16 >> (k + 1)) as u8;
    out.push(lead | ((n >> (6 * k)) as u8 & (0x3F >> k)));
    for i in (0..k).rev() {
        out.push(0x80 | ((n >> (6 * i)) & 0x3F) as u8);
    }
    out
}

fn crc8(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |crc, &b| CRC8_TABLE[usize::from(crc ^ b)])
}

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

const CRC8_TABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
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

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
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
