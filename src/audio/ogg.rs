//! Ogg Opus: reading the stream (pages and their CRCs through the `ogg` crate), measuring it from
//! its granule positions, joining pieces into one logical stream, and silent packets.
//!
//! A joined file is one logical stream: the first piece's OpusHead (so its pre-skip only) and
//! OpusTags, then every audio packet of every piece, renumbered pages, granule positions that
//! count every packet's samples from the start, and the last piece's end trimming on the last
//! page. What the pieces trimmed that cannot be trimmed in the middle of a stream stays in it:
//! each later piece's pre-skip (the decoder's warm-up, 6.5 ms for libopus) and each earlier
//! piece's end trimming (under one 20 ms packet). Cutting them would mean decoding and
//! re-encoding; they are a few milliseconds of near-silence at each join, and they are
//! counted: the joined length is what the file holds, and the pieces' starts say where each one
//! begins.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::ogg::{OggReadError, PacketReader, PacketWriteEndInfo, PacketWriter};

use super::{AudioError, COPY_BUFFER, Output, Timeline, damaged, mismatch, no_silence, open};
use crate::domain::AudioFormat;

/// Ogg Opus always counts time in 48 kHz samples.
const RATE: u32 = 48_000;

/// Packets per page in a joined stream: about a second of 20 ms packets, as ffmpeg writes.
const PACKETS_PER_PAGE: u32 = 50;

/// True unless the head shows a first Ogg page that does not hold an `OpusHead` packet.
pub(super) fn head_where_visible(head: &[u8]) -> bool {
    let Some(&segments) = head.get(26) else {
        return true;
    };
    let start = 27 + usize::from(segments);
    match head.get(start..start + 8) {
        Some(magic) => magic == b"OpusHead",
        None => true,
    }
}

/// The OpusHead fields that matter to a join.
#[derive(Clone, Debug, PartialEq, Eq)]
struct OpusHead {
    /// The whole packet, copied into a joined stream.
    packet: Vec<u8>,
    channels: u8,
    pre_skip: u64,
    /// The channel mapping family and table (after the 19 fixed bytes).
    mapping: Vec<u8>,
}

impl OpusHead {
    fn parse(packet: &[u8]) -> Option<OpusHead> {
        if packet.len() < 19 || !packet.starts_with(b"OpusHead") {
            return None;
        }
        Some(OpusHead {
            packet: packet.to_vec(),
            channels: packet[9],
            pre_skip: u64::from(u16::from_le_bytes([packet[10], packet[11]])),
            mapping: packet[18..].to_vec(),
        })
    }

    fn describe(&self) -> String {
        format!("{} channels, mapping {:02x?}", self.channels, self.mapping)
    }
}

/// What reading an Ogg Opus file found.
struct OggOpus {
    head: OpusHead,
    tags: Option<Vec<u8>>,
    /// The granule position of the last page of the stream that ends a packet.
    last_granule: u64,
    /// Samples in the audio packets, by their TOC bytes.
    samples: u64,
    /// Whether that stream's end-of-stream page was seen.
    ended: bool,
}

impl OggOpus {
    fn seconds(&self) -> f64 {
        self.last_granule.saturating_sub(self.head.pre_skip) as f64 / f64::from(RATE)
    }

    /// Samples the last page trims from the end of the packets.
    fn end_trim(&self) -> u64 {
        self.samples.saturating_sub(self.last_granule)
    }
}

fn ogg_error(path: &Path, error: OggReadError) -> AudioError {
    let detail = match error {
        OggReadError::ReadError(e) => return super::read_error(path)(e),
        OggReadError::HashMismatch(..) => "an Ogg page fails its CRC".to_string(),
        OggReadError::NoCapturePatternFound => "no Ogg page where one should start".to_string(),
        OggReadError::InvalidStreamStructVer(v) => format!("an Ogg page of version {v}"),
        other => format!("broken Ogg data: {other}"),
    };
    damaged(AudioFormat::Opus, path, detail)
}

/// Reads every packet of the file's first logical stream (pages of other multiplexed streams
/// are skipped), checking page CRCs, and hands each audio packet (after OpusHead and OpusTags)
/// to `on_audio` with its sample count.
fn read(
    path: &Path,
    mut file: File,
    mut on_audio: impl FnMut(&[u8], u64) -> Result<(), AudioError>,
) -> Result<OggOpus, AudioError> {
    let format = AudioFormat::Opus;
    file.seek(SeekFrom::Start(0))
        .map_err(super::read_error(path))?;
    let mut reader = PacketReader::new(BufReader::with_capacity(COPY_BUFFER, file));
    let mut stream: Option<(u32, OggOpus)> = None;
    loop {
        let packet = match reader.read_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            // A file cut inside a page reads as an unexpected end.
            Err(OggReadError::ReadError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(damaged(format, path, "the last Ogg page is cut short"));
            }
            Err(e) => return Err(ogg_error(path, e)),
        };
        let serial = packet.stream_serial();
        match &mut stream {
            None => {
                // The first packet must begin the Opus stream with its OpusHead.
                let head = packet
                    .first_in_stream()
                    .then(|| OpusHead::parse(&packet.data))
                    .flatten()
                    .ok_or_else(|| AudioError::NotFormat {
                        format,
                        path: path.to_path_buf(),
                        what: "the Ogg stream does not start with an OpusHead packet".to_string(),
                    })?;
                let state = OggOpus {
                    head,
                    tags: None,
                    last_granule: 0,
                    samples: 0,
                    ended: packet.last_in_stream(),
                };
                stream = Some((serial, state));
            }
            Some((opus_serial, state)) if *opus_serial == serial => {
                if state.tags.is_none() {
                    if !packet.data.starts_with(b"OpusTags") {
                        return Err(damaged(format, path, "the second packet is not OpusTags"));
                    }
                    state.tags = Some(packet.data.clone());
                } else {
                    let samples = packet_samples(&packet.data)
                        .map_err(|why| damaged(format, path, format!("an Opus packet {why}")))?;
                    state.samples = state.samples.saturating_add(samples);
                    on_audio(&packet.data, samples)?;
                }
                // -1 marks a page on which no packet ends; the reader gives the page's granule
                // position with its last packet.
                if packet.last_in_page() && packet.absgp_page() != u64::MAX {
                    state.last_granule = packet.absgp_page();
                }
                state.ended |= packet.last_in_stream();
            }
            // Pages of other multiplexed streams do not count.
            Some(_) => {}
        }
    }
    stream
        .map(|(_, state)| state)
        .ok_or_else(|| damaged(format, path, "no Ogg pages"))
}

pub(super) fn validate(path: &Path, file: File) -> Result<f64, AudioError> {
    let ogg = read(path, file, |_, _| Ok(()))?;
    if !ogg.ended {
        return Err(damaged(
            AudioFormat::Opus,
            path,
            "the Ogg stream stops before its end-of-stream page",
        ));
    }
    Ok(ogg.seconds())
}

#[cfg(test)] // see `audio::measure`
pub(super) fn measure(path: &Path, file: File) -> Result<f64, AudioError> {
    Ok(read(path, file, |_, _| Ok(()))?.seconds())
}

/// Samples at 48 kHz in one Opus packet, from its TOC byte and frame count (RFC 6716 §3.1).
fn packet_samples(packet: &[u8]) -> Result<u64, &'static str> {
    let &toc = packet.first().ok_or("is empty")?;
    let config = toc >> 3;
    let frame: u64 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames: u64 = match toc & 0b11 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(packet.get(1).ok_or("of code 3 has no frame count")? & 0x3F),
    };
    if frames == 0 || frames * frame > 5760 {
        return Err("holds more than 120 ms");
    }
    Ok(frames * frame)
}

/// A 20 ms CELT packet of digital silence for `channels` (1 or 2): TOC config 31 (fullband,
/// 20 ms), one frame, then the range-coded silence flag, as libopus codes silence.
fn silent_packet(channels: u8) -> [u8; 3] {
    let stereo = if channels == 2 { 0x04 } else { 0 };
    [0xF8 | stereo, 0xFF, 0xFE]
}

/// Samples in a silent packet.
const SILENT_SAMPLES: u64 = 960;

/// Writes one Ogg Opus logical stream with continuous granule positions.
struct StreamWriter<'p, W: Write + Seek> {
    ogg: PacketWriter<'p, &'p mut Output<W>>,
    serial: u32,
    /// The audio packet waiting to be written: the last one must be flagged end of stream.
    pending: Option<(Vec<u8>, u64)>,
    /// Samples in the packets written so far (the granule position after them).
    granule: u64,
    in_page: u32,
}

impl<'p, W: Write + Seek> StreamWriter<'p, W> {
    fn start(
        out: &'p mut Output<W>,
        head: &[u8],
        tags: &[u8],
        serial: u32,
    ) -> Result<Self, AudioError> {
        let mut ogg = PacketWriter::new(out);
        ogg.write_packet(head.to_vec(), serial, PacketWriteEndInfo::EndPage, 0)?;
        ogg.write_packet(tags.to_vec(), serial, PacketWriteEndInfo::EndPage, 0)?;
        Ok(StreamWriter {
            ogg,
            serial,
            pending: None,
            granule: 0,
            in_page: 0,
        })
    }

    fn packet(&mut self, data: &[u8], samples: u64) -> Result<(), AudioError> {
        if let Some((previous, previous_samples)) = self.pending.take() {
            self.granule = self.granule.saturating_add(previous_samples);
            self.in_page += 1;
            let end = if self.in_page >= PACKETS_PER_PAGE {
                self.in_page = 0;
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            self.ogg
                .write_packet(previous, self.serial, end, self.granule)?;
        }
        self.pending = Some((data.to_vec(), samples));
        Ok(())
    }

    /// Writes the last packet on an end-of-stream page whose granule position leaves out
    /// `end_trim` samples (at most the last packet's), and returns that granule position.
    fn finish(mut self, path: &Path, end_trim: u64) -> Result<u64, AudioError> {
        let Some((last, samples)) = self.pending.take() else {
            return Err(AudioError::NoAudio {
                format: AudioFormat::Opus,
                path: path.to_path_buf(),
            });
        };
        let total = self.granule.saturating_add(samples);
        let granule = total.saturating_sub(end_trim.min(samples));
        self.ogg
            .write_packet(last, self.serial, PacketWriteEndInfo::EndStream, granule)?;
        Ok(granule)
    }
}

pub(super) fn join<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let format = AudioFormat::Opus;
    let Some(first_path) = pieces.first() else {
        return Err(AudioError::CannotJoin { format, count: 0 });
    };
    let first = read(first_path, open(first_path)?, |_, _| Ok(()))?;
    if !first.ended {
        return Err(damaged(
            format,
            first_path,
            "the Ogg stream stops before its end-of-stream page",
        ));
    }
    let channels = first.head.channels;
    let silence = (channels <= 2).then(|| silent_packet(channels));
    let tags = first.tags.clone().unwrap_or_default();
    let mut timeline = Timeline::new(RATE);
    let serial = 0x7474_5342; // "ttsB"
    let mut writer = StreamWriter::start(out, &first.head.packet, &tags, serial)?;
    let pre_skip = first.head.pre_skip;
    let mut end_trim = 0;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            let frames = timeline.pause_frames(pause, SILENT_SAMPLES);
            if frames > 0 {
                let packet = silence
                    .ok_or_else(|| no_silence(format, piece, format!("{channels} channels")))?;
                for _ in 0..frames {
                    writer.packet(&packet, SILENT_SAMPLES)?;
                }
            }
        }
        // The measured clock starts after the first piece's pre-skip.
        timeline.end = writer
            .granule
            .saturating_add(writer.pending.as_ref().map_or(0, |p| p.1))
            .saturating_sub(pre_skip);
        timeline.piece_starts();
        let piece_ogg = read(piece, open(piece)?, |packet, samples| {
            writer.packet(packet, samples)
        })?;
        if !piece_ogg.ended {
            return Err(damaged(
                format,
                piece,
                "the Ogg stream stops before its end-of-stream page",
            ));
        }
        if piece_ogg.head.channels != first.head.channels
            || piece_ogg.head.mapping != first.head.mapping
        {
            return Err(mismatch(
                format,
                piece,
                first.head.describe(),
                piece_ogg.head.describe(),
            ));
        }
        end_trim = piece_ogg.end_trim();
    }
    let granule = writer.finish(first_path, end_trim)?;
    timeline.end = granule.saturating_sub(pre_skip);
    Ok(timeline)
}
