//! MPEG audio Layer III frame headers.

use super::frames::FrameInfo;

pub(super) const MP3_HEADER: usize = 4;
/// Kilobits per second of Layer III by bitrate index: MPEG-1, then MPEG-2 and 2.5.
pub(super) const MP3_BITRATES: [[u32; 15]; 2] = [
    [
        0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
    ],
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
];

/// Parses an MPEG audio Layer III frame header (the first 4 bytes of `b`). Free-format bitrate
/// is refused, as symphonia refuses it.
pub(super) fn parse_mp3_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
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
    let rates: [u32; 3] = match version {
        0b11 => [44_100, 48_000, 32_000],
        0b10 => [22_050, 24_000, 16_000],
        _ => [11_025, 12_000, 8_000],
    };
    let sample_rate = *rates
        .get(usize::from((b2 >> 2) & 0b11))
        .ok_or("reserved sample rate")?;
    let mpeg1 = version == 0b11;
    let kbps = MP3_BITRATES[usize::from(!mpeg1)][bitrate_index];
    let padding = usize::from((b2 >> 1) & 1);
    let factor = if mpeg1 { 144 } else { 72 };
    let len = (factor * kbps * 1000 / sample_rate) as usize + padding;
    let mono = b3 >> 6 == 0b11;
    let side_info = match (mpeg1, mono) {
        (true, true) => 17,
        (true, false) => 32,
        (false, true) => 9,
        (false, false) => 17,
    };
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: if mono { 1 } else { 2 },
        profile: 0,
        side_info,
    })
}
