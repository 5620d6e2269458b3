//! ADTS (AAC) frame headers.

use super::frames::FrameInfo;

pub(super) const ADTS_HEADER: usize = 7;
/// AAC sample rates by ADTS sampling_frequency_index.
pub(super) const AAC_RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// Parses an ADTS header (the first 7 bytes of `b`). Only the form symphonia reads is accepted:
/// MPEG-4 id, no CRC, one raw data block per frame; it is what ffmpeg (and so the API) writes.
pub(super) fn parse_adts_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
    let &[b0, b1, b2, b3, b4, b5, b6, ..] = b else {
        return Err("short ADTS header");
    };
    if b0 != 0xFF || b1 & 0xF6 != 0xF0 {
        return Err("no ADTS frame sync");
    }
    if b1 != 0xF1 {
        return Err("unsupported ADTS header (MPEG-2 id or CRC-protected)");
    }
    let sample_rate = *AAC_RATES
        .get(usize::from((b2 >> 2) & 0x0F))
        .ok_or("reserved ADTS sample rate")?;
    let len = (usize::from(b3 & 0b11) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
    if len < ADTS_HEADER {
        return Err("ADTS frame shorter than its header");
    }
    if b6 & 0b11 != 0 {
        return Err("unsupported ADTS frame with several raw data blocks");
    }
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: ((b2 & 1) << 2) | (b3 >> 6),
        profile: b2 >> 6,
        side_info: 0,
    })
}
