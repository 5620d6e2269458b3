//! Ogg Opus: walking the pages (with their CRC) to check and measure a stream.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;

use super::{AudioError, COPY_BUFFER, damaged, read_error, read_full};
use crate::domain::AudioFormat;

/// What walking an Ogg Opus file's pages found.
pub(super) struct OggOpus {
    pub(super) pre_skip: u64,
    /// The granule position of the last page of the Opus stream that ends a packet.
    pub(super) last_granule: u64,
    /// Whether that stream's end-of-stream page was seen.
    pub(super) ended: bool,
}

impl OggOpus {
    pub(super) fn seconds(&self) -> f64 {
        self.last_granule.saturating_sub(self.pre_skip) as f64 / 48_000.0
    }
}

pub(super) const OGG_PAGE_HEADER: usize = 27;

/// Reads every Ogg page, checking its CRC, to find the Opus stream's pre-skip (from OpusHead on
/// its first page) and last granule position.
pub(super) fn walk_ogg_opus(path: &Path, mut file: File) -> Result<OggOpus, AudioError> {
    let format = AudioFormat::Opus;
    file.seek(SeekFrom::Start(0)).map_err(read_error(path))?;
    let mut reader = BufReader::with_capacity(COPY_BUFFER, file);
    let mut header = [0u8; OGG_PAGE_HEADER];
    let mut lacing = [0u8; 255];
    let mut body = vec![0u8; 255 * 255];
    let mut pos = 0u64;
    let mut stream: Option<(u32, OggOpus)> = None;
    loop {
        let got = read_full(&mut reader, &mut header).map_err(read_error(path))?;
        if got == 0 {
            break;
        }
        if got < OGG_PAGE_HEADER || &header[..4] != b"OggS" || header[4] != 0 {
            return Err(damaged(
                format,
                path,
                format!("no whole Ogg page at byte {pos}"),
            ));
        }
        let segments = usize::from(header[26]);
        let lacing = &mut lacing[..segments];
        let got = read_full(&mut reader, lacing).map_err(read_error(path))?;
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body = &mut body[..body_len];
        let got = got + read_full(&mut reader, body).map_err(read_error(path))?;
        if got < segments + body_len {
            return Err(damaged(
                format,
                path,
                format!("the Ogg page at byte {pos} is cut short"),
            ));
        }
        let stored_crc = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
        header[22..26].fill(0);
        let crc = ogg_crc(ogg_crc(ogg_crc(0, &header), lacing), body);
        if crc != stored_crc {
            return Err(damaged(
                format,
                path,
                format!("the Ogg page at byte {pos} fails its CRC"),
            ));
        }
        let flags = header[5];
        let granule = u64::from_le_bytes([
            header[6], header[7], header[8], header[9], header[10], header[11], header[12],
            header[13],
        ]);
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        match &mut stream {
            None => {
                // The first page must begin the Opus stream with its OpusHead packet.
                if flags & 0x02 == 0 || body.len() < 19 || &body[..8] != b"OpusHead" {
                    return Err(AudioError::NotFormat {
                        format,
                        path: path.to_path_buf(),
                        what: "the Ogg stream does not start with an OpusHead packet".to_string(),
                    });
                }
                let pre_skip = u64::from(u16::from_le_bytes([body[10], body[11]]));
                let state = OggOpus {
                    pre_skip,
                    last_granule: 0,
                    ended: flags & 0x04 != 0,
                };
                stream = Some((serial, state));
            }
            Some((opus_serial, state)) if *opus_serial == serial => {
                // -1 marks a page on which no packet ends.
                if granule != u64::MAX {
                    state.last_granule = granule;
                }
                state.ended |= flags & 0x04 != 0;
            }
            // Pages of other multiplexed streams do not count.
            Some(_) => {}
        }
        pos += (OGG_PAGE_HEADER + segments + body_len) as u64;
    }
    stream
        .map(|(_, state)| state)
        .ok_or_else(|| damaged(format, path, "no Ogg pages"))
}

/// The Ogg CRC-32 (polynomial 0x04C11DB7, MSB first, no reflection or final XOR), continued
/// from `crc` over `bytes`.
pub(super) fn ogg_crc(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc << 8) ^ OGG_CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)];
    }
    crc
}

pub(super) const OGG_CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
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
