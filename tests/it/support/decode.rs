//! Decodes audio files fully (every packet through the codec) to measure what a listener hears.
//!
//! This is the tests' independent check on `audio::measure`: it counts the samples the codec
//! decodes rather than packet durations (with its own, simpler tag skipping), so a frame the
//! codec cannot decode fails the check.
// This file is `#[path]`-included by several crates (the `it` test binary, the unit tests of
// `src/audio.rs`, a benchmark); not all of them use it.
#![allow(dead_code)]

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::codecs::DecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::{AdtsReader, FlacReader, MpaReader, WavReader};

/// Seconds of audio obtained by decoding every packet of the file at `path` whose format is given
/// by its extension (mp3, aac, wav, flac; opus: sum of packet durations from the Ogg pages since
/// there is no Opus decoder; pcm: bytes/48000). Errors as String; decoding errors are errors
/// (a file with a corrupt frame must not pass).
pub fn decoded_seconds(path: &Path) -> Result<f64, String> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| format!("{}: no extension to tell the format", path.display()))?;
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    match ext.as_str() {
        "pcm" => {
            let len = std::fs::metadata(path).map_err(|e| at(&e))?.len();
            if len % 2 != 0 {
                return Err(at(&"pcm of an odd number of bytes"));
            }
            Ok(len as f64 / 48_000.0)
        }
        "opus" => opus_seconds(&std::fs::read(path).map_err(|e| at(&e))?).map_err(|e| at(&e)),
        "mp3" | "aac" | "wav" | "flac" => decode(path, &ext).map_err(|e| at(&e)),
        other => Err(at(&format!("unknown audio extension {other:?}"))),
    }
}

/// Decodes with the symphonia reader for the extension, counting the sample frames the decoder
/// puts out.
fn decode(path: &Path, ext: &str) -> Result<f64, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    // Symphonia's probe would skip ID3v2 tags for us, but it needs 16 bytes after a format's
    // marker and so fails on one-frame aac files; choose the reader ourselves instead.
    let start = id3v2_tags_len(&mut file).map_err(|e| e.to_string())?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| e.to_string())?;
    // Not seekable: symphonia 0.5's ADTS reader can overflow while estimating the duration of a
    // seekable stream, and nothing here needs seeking.
    let source = ReadOnlySource::new(file);
    let stream = MediaSourceStream::new(Box::new(source), Default::default());
    let options = FormatOptions::default();
    let opened = match ext {
        "mp3" => MpaReader::try_new(stream, &options).map(|r| Box::new(r) as Box<dyn FormatReader>),
        "aac" => {
            AdtsReader::try_new(stream, &options).map(|r| Box::new(r) as Box<dyn FormatReader>)
        }
        "wav" => WavReader::try_new(stream, &options).map(|r| Box::new(r) as Box<dyn FormatReader>),
        _ => FlacReader::try_new(stream, &options).map(|r| Box::new(r) as Box<dyn FormatReader>),
    };
    let mut reader = opened.map_err(|e| format!("opening the stream: {e}"))?;
    let track = reader.default_track().ok_or("no audio track")?.clone();
    let rate = track.codec_params.sample_rate.ok_or("no sample rate")?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| format!("no decoder: {e}"))?;
    let mut frames = 0u64;
    let mut packets = 0u64;
    loop {
        let packet = match reader.next_packet() {
            Ok(packet) => packet,
            Err(Error::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("reading packet {packets}: {e}")),
        };
        if packet.track_id() != track.id {
            continue;
        }
        // The FLAC reader drops a frame that fails its CRC and carries on; the frame numbers
        // (timestamps) of what follows show the hole.
        if packet.ts() != frames {
            return Err(format!(
                "packet {packets} starts at sample {} but {frames} samples came before it",
                packet.ts()
            ));
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| format!("decoding packet {packets}: {e}"))?;
        frames += decoded.frames() as u64;
        packets += 1;
    }
    if packets == 0 {
        return Err("no audio packets".to_string());
    }
    Ok(frames as f64 / f64::from(rate))
}

/// The length of the ID3v2 tags at the start of `file` (0 if none).
fn id3v2_tags_len(file: &mut File) -> io::Result<u64> {
    let mut start = 0u64;
    loop {
        let mut header = [0u8; 10];
        file.seek(SeekFrom::Start(start))?;
        if file.read_exact(&mut header).is_err() || !header.starts_with(b"ID3") {
            return Ok(start);
        }
        let size = header[6..]
            .iter()
            .fold(0u64, |n, &b| (n << 7) | u64::from(b & 0x7F));
        let footer = if header[5] & 0x10 != 0 { 10 } else { 0 };
        start += 10 + size + footer;
    }
}

/// Sums the durations of the Opus packets (from their TOC bytes, RFC 6716 §3.1) in the Ogg
/// pages, less the OpusHead pre-skip and any end trimming the last granule position asks for.
fn opus_seconds(bytes: &[u8]) -> Result<f64, String> {
    let mut pos = 0usize;
    let mut packet = Vec::new();
    let mut packets = 0u64;
    let mut pre_skip = None;
    let mut samples = 0u64;
    let mut last_granule = 0u64;
    while pos < bytes.len() {
        let header = bytes
            .get(pos..pos + 27)
            .filter(|h| h.starts_with(b"OggS"))
            .ok_or_else(|| format!("no Ogg page at byte {pos}"))?;
        let segments = usize::from(header[26]);
        let lacing = bytes
            .get(pos + 27..pos + 27 + segments)
            .ok_or("cut-short Ogg page")?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let page_len = 27 + segments + body_len;
        let page = bytes.get(pos..pos + page_len).ok_or("cut-short Ogg page")?;
        let mut check = page.to_vec();
        check[22..26].fill(0);
        if crc(&check) != u32::from_le_bytes([page[22], page[23], page[24], page[25]]) {
            return Err(format!("bad CRC on the Ogg page at byte {pos}"));
        }
        let granule = u64::from_le_bytes(header[6..14].try_into().map_err(|_| "granule")?);
        if granule != u64::MAX {
            last_granule = granule;
        }
        let mut body = &page[27 + segments..];
        for &lace in lacing {
            let (part, rest) = body.split_at(usize::from(lace));
            packet.extend_from_slice(part);
            body = rest;
            // A lacing value under 255 ends the packet.
            if lace < 255 {
                match packets {
                    0 => {
                        if !packet.starts_with(b"OpusHead") || packet.len() < 19 {
                            return Err("the first packet is not OpusHead".to_string());
                        }
                        pre_skip = Some(u64::from(u16::from_le_bytes([packet[10], packet[11]])));
                    }
                    1 => {
                        if !packet.starts_with(b"OpusTags") {
                            return Err("the second packet is not OpusTags".to_string());
                        }
                    }
                    _ => samples += opus_packet_samples(&packet)?,
                }
                packets += 1;
                packet.clear();
            }
        }
        pos += page_len;
    }
    let pre_skip = pre_skip.ok_or("no OpusHead")?;
    if packets < 3 {
        return Err("no audio packets".to_string());
    }
    if last_granule > samples {
        return Err(format!(
            "the last granule position {last_granule} is past the {samples} samples in the packets"
        ));
    }
    Ok(last_granule.min(samples).saturating_sub(pre_skip) as f64 / 48_000.0)
}

/// Samples at 48 kHz in one Opus packet, after checking its framing.
fn opus_packet_samples(packet: &[u8]) -> Result<u64, String> {
    let toc = *packet.first().ok_or("empty Opus packet")?;
    let config = toc >> 3;
    let frame = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0b11 {
        0 => 1,
        1 if (packet.len() - 1).is_multiple_of(2) => 2,
        1 => return Err("Opus code 1 packet of odd length".to_string()),
        2 => 2,
        _ => u64::from(
            *packet
                .get(1)
                .ok_or("Opus code 3 packet without a frame count")?
                & 0x3F,
        ),
    };
    if frames == 0 || frames * frame > 5760 {
        return Err(format!("Opus packet of {frames} frames of {frame} samples"));
    }
    Ok(frames * frame)
}

fn crc(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}
