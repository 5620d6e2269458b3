//! MPEG audio Layer III: frame headers, the Xing/Info and LAME tags, silent frames, and joining
//! pieces into one stream behind a Xing/Info frame that states its true length.
//!
//! Players (ffmpeg among them) read the frame count from the Xing/Info frame instead of
//! guessing from the bitrate, and trim the encoder delay and padding that the LAME tag states
//! (LAME, and ffmpeg, which the speech APIs use, write one). A joined file states the first
//! piece's delay and the last piece's padding: the delay and padding of the pieces in between
//! cannot be cut from the middle of a stream without re-encoding, so they stay as a few
//! milliseconds of near-silence at each join, and `measure` (which counts every frame) is what
//! the pieces' lengths add up to. A player's length for the joined file is that less the first
//! delay and the last padding (1105 samples, 46 ms at 24 kHz, for ffmpeg-made pieces).

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::frames::{self, FrameInfo};
use super::tags;
use super::{AudioError, Ends, Output, Timeline, file_len, mismatch, open};
use crate::domain::AudioFormat;

pub(super) const HEADER_LEN: usize = 4;

/// MP3 frames as `frames` walks them.
pub(super) const FRAMES: frames::Container = frames::Container {
    format: AudioFormat::Mp3,
    header_len: HEADER_LEN,
    parse: parse_header,
    is_tag_frame,
};

/// Kilobits per second of Layer III by bitrate index: MPEG-1, then MPEG-2 and 2.5.
const BITRATES: [[u32; 15]; 2] = [
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Parses an MPEG audio Layer III frame header (the first 4 bytes of `b`). Free-format bitrate
/// is refused, as symphonia refuses it.
pub(super) fn parse_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
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
    let mpeg1 = version == 0b11;
    let sample_rate = sample_rate(version, (b2 >> 2) & 0b11).ok_or("reserved sample rate")?;
    let padding = usize::from((b2 >> 1) & 1);
    let len = frame_len(mpeg1, bitrate_index, sample_rate) + padding;
    let mono = b3 >> 6 == 0b11;
    let side_info = side_info_len(mpeg1, mono);
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: if mono { 1 } else { 2 },
        profile: 0,
        side_info,
        samples: if mpeg1 { 1152 } else { 576 },
        header: [b0, b1, b2, b3, 0, 0, 0],
    })
}

fn sample_rate(version: u8, index: u8) -> Option<u32> {
    let rates: [u32; 3] = match version {
        0b11 => [44_100, 48_000, 32_000],
        0b10 => [22_050, 24_000, 16_000],
        _ => [11_025, 12_000, 8_000],
    };
    rates.get(usize::from(index)).copied()
}

/// The length of an unpadded frame; `bitrate_index` is 1..=14 and `sample_rate` one of the
/// table's, so nothing here overflows or divides by zero.
fn frame_len(mpeg1: bool, bitrate_index: usize, sample_rate: u32) -> usize {
    let kbps = BITRATES[usize::from(!mpeg1)][bitrate_index];
    let factor = if mpeg1 { 144 } else { 72 };
    (factor * kbps * 1000 / sample_rate.max(1)) as usize
}

fn side_info_len(mpeg1: bool, mono: bool) -> u8 {
    match (mpeg1, mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    }
}

/// Whether symphonia takes the first frame of an mp3 stream for a Xing/Info or VBRI tag frame
/// (rather than audio). This mirrors symphonia's own test exactly, so that a piece and the
/// joined file lose the same frames to it and durations add up.
pub(super) fn is_tag_frame(frame: &[u8], info: &FrameInfo) -> bool {
    xing_flags(frame, info).is_some() || is_vbri_frame(frame)
}

/// The flags of the Xing/Info tag in `frame`, if it is one, with where the tag starts.
fn xing_flags(frame: &[u8], info: &FrameInfo) -> Option<(usize, u32)> {
    // The tag follows the side information (symphonia does not allow for a CRC here).
    let at = HEADER_LEN + usize::from(info.side_info);
    let id = frame.get(at..at + 4)?;
    let flags = frame.get(at + 4..at + 8)?;
    if (id != b"Xing" && id != b"Info") || frame[HEADER_LEN..at].iter().any(|&b| b != 0) {
        return None;
    }
    let flags = u32::from_be_bytes([flags[0], flags[1], flags[2], flags[3]]);
    // The optional fields the flags announce must all fit in the frame.
    let fields = optional_fields_len(flags);
    (at + 8 + fields <= frame.len()).then_some((at, flags))
}

/// The bytes of the Xing tag's optional fields (frames, bytes, TOC, quality) that `flags` has.
fn optional_fields_len(flags: u32) -> usize {
    [(1, 4), (2, 4), (4, 100), (8, 4)]
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, size)| size)
        .sum::<usize>()
}

fn is_vbri_frame(frame: &[u8]) -> bool {
    // Fixed place, 32 bytes after the header; symphonia wants 26 bytes of tag and version 1.
    const AT: usize = HEADER_LEN + 32;
    frame.len() >= AT + 26
        && frame.get(AT..AT + 4) == Some(b"VBRI")
        && frame[HEADER_LEN..AT].iter().all(|&b| b == 0)
        && frame.get(AT + 4..AT + 6) == Some(&[0, 1])
}

/// The length of the LAME extension after the Xing tag's optional fields.
const LAME_LEN: usize = 36;

/// The LAME extension of a Xing/Info frame, as ffmpeg recognizes it (encoder `LAME`, `Lavf`
/// or `Lavc`): its 36 bytes, which carry the encoder delay and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Lame {
    bytes: [u8; LAME_LEN],
}

impl Lame {
    fn find(frame: &[u8], info: &FrameInfo) -> Option<Lame> {
        let (at, flags) = xing_flags(frame, info)?;
        let start = at + 8 + optional_fields_len(flags);
        let bytes: [u8; LAME_LEN] = frame.get(start..start + LAME_LEN)?.try_into().ok()?;
        [&b"LAME"[..], b"Lavf", b"Lavc"]
            .iter()
            .any(|name| bytes.starts_with(name))
            .then_some(Lame { bytes })
    }

    /// Encoder delay and padding in samples (12 bits each).
    pub fn delay_padding(&self) -> (u16, u16) {
        let [a, b, c] = [self.bytes[21], self.bytes[22], self.bytes[23]];
        let delay = (u16::from(a) << 4) | u16::from(b >> 4);
        let padding = (u16::from(b & 0x0F) << 8) | u16::from(c);
        (delay, padding)
    }

    fn set_delay_padding(&mut self, delay: u16, padding: u16) {
        let (delay, padding) = (delay.min(0xFFF), padding.min(0xFFF));
        self.bytes[21] = (delay >> 4) as u8;
        self.bytes[22] = (((delay & 0x0F) << 4) as u8) | ((padding >> 8) as u8);
        self.bytes[23] = (padding & 0xFF) as u8;
    }
}

/// The first audio frame of an mp3 file and the LAME tag of its Xing/Info frame, if any.
struct Head {
    audio: FrameInfo,
    lame: Option<Lame>,
}

/// Reads the frames at the start of `path` until the first audio frame.
fn read_head(path: &Path) -> Result<Head, AudioError> {
    let format = AudioFormat::Mp3;
    let mut file = open(path)?;
    let len = file_len(&file, path)?;
    let region = tags::audio_region(format, path, &mut file, len)?;
    let mut lame = None;
    let mut audio = None;
    // Stop walking once the first audio frame is found; the error is only a way out.
    let found = frames::walk(&FRAMES, path, &mut file, region, |index, info, frame| {
        if index == 0 && is_tag_frame(frame, info) {
            lame = Lame::find(frame, info);
            return Ok(());
        }
        audio = Some(*info);
        Err(AudioError::CannotJoin { format, count: 0 })
    });
    match (found, audio) {
        (_, Some(audio)) => Ok(Head { audio, lame }),
        (Err(e), None) => Err(e),
        (Ok(()), None) => Err(AudioError::NoAudio {
            format,
            path: path.to_path_buf(),
        }),
    }
}

/// The Xing frame's length for a stream whose frames start with `header`: the stream's own
/// bitrate when the tag fits (so that a CBR file stays one bitrate), else the smallest that
/// holds it.
fn xing_header(audio: &FrameInfo) -> ([u8; 4], usize) {
    let [b0, b1, b2, b3, ..] = audio.header;
    let mpeg1 = (b1 >> 3) & 0b11 == 0b11;
    let mono = b3 >> 6 == 0b11;
    let needed = HEADER_LEN + usize::from(side_info_len(mpeg1, mono)) + 8 + 112 + LAME_LEN;
    let own = usize::from(b2 >> 4);
    let index = std::iter::once(own)
        .chain(1..15)
        .find(|&i| frame_len(mpeg1, i, audio.sample_rate) >= needed)
        .unwrap_or(14);
    // No CRC, no padding, the stream's version, rate and channel mode; no mode extension.
    let header = [b0, b1 | 1, ((index as u8) << 4) | (b2 & 0x0C), b3 & 0xCF];
    (header, frame_len(mpeg1, index, audio.sample_rate))
}

/// A frame of digital silence in the stream of `audio`: the same header (bitrate, rate,
/// channel mode; no CRC, no padding), side information all zero (no main data, so nothing
/// borrowed from or lent to the bit reservoir), which decodes to zeros.
fn silent_frame(audio: &FrameInfo) -> Vec<u8> {
    let [b0, b1, b2, b3, ..] = audio.header;
    let mpeg1 = (b1 >> 3) & 0b11 == 0b11;
    let mut frame = vec![0u8; frame_len(mpeg1, usize::from(b2 >> 4), audio.sample_rate)];
    frame[..HEADER_LEN].copy_from_slice(&[b0, b1 | 1, b2 & 0xFC, b3 & 0xCF]);
    frame
}

/// Writes one MPEG stream behind a Xing/Info frame whose fields are filled in at the end.
struct StreamWriter {
    audio: FrameInfo,
    /// Where the Xing frame is in the output.
    xing_at: u64,
    xing_header: [u8; 4],
    xing_len: usize,
    lame: Option<Lame>,
    frames: u64,
    /// Every bitrate index seen, to tell Info (CBR) from Xing (VBR).
    bitrate_index: Option<u8>,
    vbr: bool,
    /// Offsets of frame starts from the Xing frame, every `stride` frames (thinned as the stream
    /// grows, so that memory stays small for a book of many hours).
    offsets: Vec<u64>,
    stride: u64,
    music_crc: u16,
    timeline: Timeline,
}

/// Most frame offsets kept for the seek table.
const MAX_OFFSETS: usize = 4096;

impl StreamWriter {
    fn start<W: Write + Seek>(
        audio: FrameInfo,
        lame: Option<Lame>,
        out: &mut Output<W>,
    ) -> Result<StreamWriter, AudioError> {
        let (xing_header, xing_len) = xing_header(&audio);
        let xing_at = out.written;
        out.put(&vec![0u8; xing_len])?;
        Ok(StreamWriter {
            audio,
            xing_at,
            xing_header,
            xing_len,
            lame,
            frames: 0,
            bitrate_index: None,
            vbr: false,
            offsets: Vec::new(),
            stride: 1,
            music_crc: 0,
            timeline: Timeline::new(audio.sample_rate),
        })
    }

    fn frame<W: Write + Seek>(
        &mut self,
        frame: &[u8],
        out: &mut Output<W>,
    ) -> Result<(), AudioError> {
        if self.frames.is_multiple_of(self.stride) {
            self.offsets.push(out.written - self.xing_at);
            if self.offsets.len() >= MAX_OFFSETS {
                self.offsets = self.offsets.iter().copied().step_by(2).collect();
                self.stride *= 2;
            }
        }
        let index = frame.get(2).map(|b| b >> 4);
        match self.bitrate_index {
            None => self.bitrate_index = index,
            Some(seen) => self.vbr |= index != Some(seen),
        }
        self.music_crc = crc16_lame(self.music_crc, frame);
        self.frames += 1;
        self.timeline.end = self.timeline.end.saturating_add(self.audio.samples);
        out.put(frame)
    }

    fn silence<W: Write + Seek>(
        &mut self,
        frames: u64,
        out: &mut Output<W>,
    ) -> Result<(), AudioError> {
        let frame = silent_frame(&self.audio);
        for _ in 0..frames {
            self.frame(&frame, out)?;
        }
        Ok(())
    }

    /// Fills in the Xing/Info frame: frame and byte counts, seek table, and the LAME tag with
    /// `padding` (the last piece's) and CRCs.
    fn finish<W: Write + Seek>(
        self,
        padding: Option<u16>,
        out: &mut Output<W>,
    ) -> Result<Timeline, AudioError> {
        let format = AudioFormat::Mp3;
        let bytes = out.written - self.xing_at;
        let (Ok(frames), Ok(bytes32)) = (u32::try_from(self.frames), u32::try_from(bytes)) else {
            return Err(AudioError::TooLarge { format });
        };
        let mut frame = Vec::with_capacity(self.xing_len);
        frame.extend_from_slice(&self.xing_header);
        let mpeg1 = (self.xing_header[1] >> 3) & 0b11 == 0b11;
        let mono = self.xing_header[3] >> 6 == 0b11;
        frame.resize(HEADER_LEN + usize::from(side_info_len(mpeg1, mono)), 0);
        frame.extend_from_slice(if self.vbr { b"Xing" } else { b"Info" });
        frame.extend_from_slice(&0x0Fu32.to_be_bytes());
        frame.extend_from_slice(&frames.to_be_bytes());
        frame.extend_from_slice(&bytes32.to_be_bytes());
        for i in 0..100u64 {
            // The frame at i% of the time, and where it is as a share of 256 of the bytes.
            let at = (i * self.frames / 100) / self.stride;
            let offset = self
                .offsets
                .get(usize::try_from(at).unwrap_or(usize::MAX))
                .copied()
                .unwrap_or(bytes);
            frame.push(u8::try_from(offset * 256 / bytes.max(1)).unwrap_or(u8::MAX));
        }
        frame.extend_from_slice(&0u32.to_be_bytes()); // quality: unknown
        if let Some(mut lame) = self.lame {
            let (delay, _) = lame.delay_padding();
            lame.set_delay_padding(delay, padding.unwrap_or(0));
            lame.bytes[28..32].copy_from_slice(&bytes32.to_be_bytes());
            lame.bytes[32..34].copy_from_slice(&self.music_crc.to_be_bytes());
            frame.extend_from_slice(&lame.bytes);
            // The tag's own CRC covers the frame's first 190 bytes.
            let crc = crc16_lame(0, frame.get(..190).unwrap_or(&frame));
            let end = frame.len();
            frame[end - 2..].copy_from_slice(&crc.to_be_bytes());
        }
        frame.resize(self.xing_len, 0);
        out.patch(self.xing_at, &frame)?;
        Ok(self.timeline)
    }
}

pub(super) fn join<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    ends: Ends,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let format = AudioFormat::Mp3;
    let heads = pieces
        .iter()
        .map(|piece| read_head(piece))
        .collect::<Result<Vec<_>, _>>()?;
    let (Some(first), Some(last)) = (heads.first(), heads.last()) else {
        return Err(AudioError::CannotJoin { format, count: 0 });
    };
    let gapless = ends == Ends::Gapless;
    let lame = first.lame.filter(|_| gapless);
    let mut writer = StreamWriter::start(first.audio, lame, out)?;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            let frames = writer.timeline.pause_frames(pause, writer.audio.samples);
            writer.silence(frames, out)?;
        }
        writer.timeline.piece_starts();
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        let region = tags::audio_region(format, piece, &mut file, len)?;
        frames::walk(&FRAMES, piece, &mut file, region, |index, info, frame| {
            if !writer.audio.same_stream(info) {
                return Err(mismatch(
                    format,
                    piece,
                    writer.audio.describe(),
                    info.describe(),
                ));
            }
            if index == 0 && is_tag_frame(frame, info) {
                return Ok(());
            }
            writer.frame(frame, out)
        })?;
    }
    let padding = last.lame.map(|lame| lame.delay_padding().1);
    writer.finish(padding, out)
}

/// The CRC-16 of LAME tags (polynomial 0x8005, reflected, initial value 0), continued from
/// `crc` over `bytes`.
fn crc16_lame(mut crc: u16, bytes: &[u8]) -> u16 {
    for &b in bytes {
        crc = (crc >> 8) ^ CRC16_TABLE[usize::from((crc as u8) ^ b)];
    }
    crc
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u16;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// The stream a joined mp3 file is in, for tests and for callers that need the frame length.
#[cfg(test)]
pub(super) fn first_audio_frame(
    path: &Path,
) -> Result<(FrameInfo, Option<(u16, u16)>), AudioError> {
    let head = read_head(path)?;
    Ok((head.audio, head.lame.map(|l| l.delay_padding())))
}
