//! Counting ADTS frames (stand-in until `audio::adts` offers it): the cached chapter encodings
//! are raw ADTS, whose length is frames × 1024 samples.

use std::io::{self, Read};

/// (frames, sample rate) of an ADTS stream: every raw data block counts 1024 samples.
pub fn count_frames(mut r: impl Read) -> io::Result<Option<(u64, u32)>> {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let mut r = io::BufReader::with_capacity(64 * 1024, &mut r);
    let (mut frames, mut rate) = (0u64, None);
    let mut skip = vec![0u8; 8192];
    loop {
        let mut h = [0u8; 7];
        match r.read_exact(&mut h) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
            return Ok(None);
        }
        let len =
            (usize::from(h[3] & 0x03) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let Some(body) = len.checked_sub(7) else {
            return Ok(None);
        };
        rate = rate.or(RATES.get(usize::from((h[2] >> 2) & 0x0F)).copied());
        frames += u64::from(h[6] & 0x03) + 1;
        skip.resize(body, 0);
        r.read_exact(&mut skip)?;
    }
    Ok(rate.map(|rate| (frames, rate)))
}
