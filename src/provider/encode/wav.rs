//! WAV: the canonical file written for `--audio-format wav`, raw little-endian samples for
//! `pcm`, and the reader of the WAV the local voices hand over.

use super::{EncodeError, Samples};

pub fn raw_le(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// A canonical 44-byte-header WAV at the samples' own rate, its sizes true.
pub fn write(pcm: &Samples) -> Result<Vec<u8>, EncodeError> {
    let too_long = || EncodeError::TooLong {
        format: "wav",
        samples: pcm.samples.len(),
    };
    let data_len = u32::try_from(pcm.samples.len())
        .ok()
        .and_then(|n| n.checked_mul(2))
        .filter(|n| *n <= u32::MAX - 36)
        .ok_or_else(too_long)?;
    let byte_rate = pcm.rate.checked_mul(2).ok_or_else(too_long)?;
    let mut out = Vec::with_capacity(44 + pcm.samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&pcm.rate.to_le_bytes());
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&raw_le(&pcm.samples));
    Ok(out)
}

/// Reads the 16-bit mono PCM WAV a local voice writes: RIFF, a PCM `fmt ` chunk, then `data`.
/// espeak-ng's stated data size is a placeholder (0x7ffff000, the stream's end is unknown
/// when it starts), so the samples run to the end of the bytes or of the stated size,
/// whichever comes first; Piper's (Python's `wave`) are true. Written by hand because general
/// WAV readers refuse the placeholder size.
pub fn read(bytes: &[u8]) -> Result<Samples, &'static str> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err("no RIFF/WAVE header");
    }
    let mut at = 12;
    let mut rate = None;
    while let Some(header) = bytes.get(at..at + 8) {
        let id = &header[0..4];
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let body_start = at + 8;
        let available = bytes.len() - body_start;
        let size = usize::try_from(size).unwrap_or(usize::MAX).min(available);
        let body = &bytes[body_start..body_start + size];
        match id {
            b"fmt " => {
                if body.len() < 16 {
                    return Err("short fmt chunk");
                }
                let format = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                if format != 1 || channels != 1 || bits != 16 {
                    return Err("not 16-bit mono PCM");
                }
                rate = Some(u32::from_le_bytes([body[4], body[5], body[6], body[7]]));
            }
            b"data" => {
                let rate = rate.ok_or("data before fmt")?;
                if rate == 0 {
                    return Err("sample rate 0");
                }
                let samples = body
                    .chunks_exact(2)
                    .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                    .collect();
                return Ok(Samples { rate, samples });
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        at = body_start + size + (size & 1);
    }
    Err("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_it_writes_and_the_streaming_placeholder() {
        let pcm = Samples {
            rate: 16_000,
            samples: vec![1, -1, 300, i16::MIN, i16::MAX],
        };
        assert_eq!(read(&write(&pcm).unwrap()).unwrap(), pcm);
        let mut wav = b"RIFF\x24\xf0\xff\x7fWAVEfmt \x10\0\0\0\x01\0\x01\0\x22\x56\0\0\x44\xac\0\0\x02\0\x10\0data\0\xf0\xff\x7f".to_vec();
        wav.extend_from_slice(&[1, 0, 0xff, 0xff, 7]);
        assert_eq!(
            read(&wav).unwrap(),
            Samples {
                rate: 22050,
                samples: vec![1, -1]
            }
        );
        assert!(read(b"").is_err());
        assert!(read(b"RIFF\0\0\0\0WAVE").is_err());
        assert!(read(&wav[..44]).is_ok_and(|p| p.samples.is_empty()));
    }
}
