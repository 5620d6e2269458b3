//! Minimal MPEG audio Layer III frame reading for the book file: where an item file's audio
//! frames start and end (past its ID3v2 tag and its Xing/Info/VBRI frame, before an ID3v1 or
//! APE tag), how many there are, and the stream's parameters. Read with a small buffer, never
//! the whole file. (Stand-in until `audio::mp3` offers the same.)

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why an MP3 file cannot go into the book.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: no MP3 audio frames", path.display())]
    NoAudio { path: PathBuf },
    #[error("{}: not an MPEG Layer III frame at byte {offset}", path.display())]
    BadFrame { path: PathBuf, offset: u64 },
}

/// What a frame header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The four header bytes as read.
    pub raw: [u8; 4],
    /// MPEG-1 (true) or MPEG-2/2.5 (false): sets samples per frame and side information size.
    pub mpeg1: bool,
    pub sample_rate: u32,
    pub mono: bool,
    pub bitrate_kbps: u32,
    pub len: usize,
}

const BITRATES_V1: [u32; 15] = [
    0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
const BITRATES_V2: [u32; 15] = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];

impl Header {
    /// Parses a Layer III header; `None` for anything else (free format included).
    pub fn parse(b: [u8; 4]) -> Option<Header> {
        if b[0] != 0xFF || b[1] & 0xE0 != 0xE0 {
            return None;
        }
        let version = (b[1] >> 3) & 3; // 0 = 2.5, 2 = 2, 3 = 1
        let layer = (b[1] >> 1) & 3; // 1 = III
        if version == 1 || layer != 1 {
            return None;
        }
        let bitrate_index = usize::from(b[2] >> 4);
        let rate_index = usize::from((b[2] >> 2) & 3);
        if bitrate_index == 0 || bitrate_index == 15 || rate_index == 3 {
            return None;
        }
        let mpeg1 = version == 3;
        let bitrate_kbps = if mpeg1 {
            BITRATES_V1[bitrate_index]
        } else {
            BITRATES_V2[bitrate_index]
        };
        let base = [44_100, 48_000, 32_000][rate_index];
        let sample_rate = match version {
            3 => base,
            2 => base / 2,
            _ => base / 4,
        };
        let padding = usize::from((b[2] >> 1) & 1);
        let coefficient = if mpeg1 { 144_000 } else { 72_000 };
        let len = (coefficient * bitrate_kbps / sample_rate) as usize + padding;
        Some(Header {
            raw: b,
            mpeg1,
            sample_rate,
            mono: b[3] >> 6 == 3,
            bitrate_kbps,
            len,
        })
    }

    /// Samples each frame decodes to.
    pub fn samples(&self) -> u32 {
        if self.mpeg1 { 1152 } else { 576 }
    }

    /// Bytes of side information after the header (and its CRC, if any).
    pub fn side_info_len(&self) -> usize {
        let crc = if self.raw[1] & 1 == 0 { 2 } else { 0 };
        crc + match (self.mpeg1, self.mono) {
            (true, true) => 17,
            (true, false) => 32,
            (false, true) => 9,
            (false, false) => 17,
        }
    }

    /// The same stream (version, rate, channels): frames that can follow each other.
    pub fn same_stream(&self, other: &Header) -> bool {
        self.mpeg1 == other.mpeg1
            && self.sample_rate == other.sample_rate
            && self.mono == other.mono
    }
}

/// Where an MP3 file's audio frames are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The first audio frame's header.
    pub first: Header,
    /// Byte offset of the first audio frame.
    pub start: u64,
    /// Bytes of audio frames, all contiguous from `start`.
    pub bytes: u64,
    pub frames: u64,
    /// Every frame has the first one's bitrate.
    pub constant_bitrate: bool,
}

#[cfg(test)] // the book counts frames itself; tests compare with this
impl Scan {
    /// Decoded seconds (every frame counts: no gapless trimming).
    pub fn seconds(&self) -> f64 {
        self.frames as f64 * f64::from(self.first.samples()) / f64::from(self.first.sample_rate)
    }
}

/// Finds the audio frames of the MP3 file at `path`.
pub fn scan(path: &Path) -> Result<Scan, ScanError> {
    let io_err = |source| ScanError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut r = BufReader::with_capacity(64 * 1024, file);
    let mut pos = 0u64;
    // ID3v2 tags (one or more) at the start.
    loop {
        let mut head = [0u8; 10];
        if pos + 10 > len {
            break;
        }
        r.read_exact(&mut head).map_err(io_err)?;
        if &head[..3] != b"ID3" {
            r.seek(SeekFrom::Start(pos)).map_err(io_err)?;
            break;
        }
        let size = head[6..10]
            .iter()
            .fold(0u64, |n, b| (n << 7) | u64::from(b & 0x7F));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        pos = pos.saturating_add(10 + size + footer);
        r.seek(SeekFrom::Start(pos)).map_err(io_err)?;
    }
    let mut first: Option<Header> = None;
    let (mut start, mut frames, mut cbr) = (pos, 0u64, true);
    let mut frame = vec![0u8; 2048];
    while pos + 4 <= len {
        let mut b = [0u8; 4];
        r.read_exact(&mut b).map_err(io_err)?;
        let Some(h) = Header::parse(b) else {
            if &b[..3] == b"TAG" || &b == b"APET" || (first.is_some() && b == [0; 4]) {
                break; // ID3v1, APE tag, or zero padding after the audio
            }
            return Err(ScanError::BadFrame {
                path: path.to_path_buf(),
                offset: pos,
            });
        };
        if pos + h.len as u64 > len {
            break; // a last frame cut short decodes to nothing useful: leave it out
        }
        if let Some(f) = &first
            && !f.same_stream(&h)
        {
            return Err(ScanError::BadFrame {
                path: path.to_path_buf(),
                offset: pos,
            });
        }
        frame.resize(h.len, 0);
        frame[..4].copy_from_slice(&b);
        r.read_exact(&mut frame[4..]).map_err(io_err)?;
        match first {
            None if is_info_frame(&h, &frame) => start = pos + h.len as u64,
            None => {
                first = Some(h);
                frames = 1;
            }
            Some(f) => {
                frames += 1;
                cbr &= f.bitrate_kbps == h.bitrate_kbps;
            }
        }
        pos += h.len as u64;
    }
    let Some(first) = first else {
        return Err(ScanError::NoAudio {
            path: path.to_path_buf(),
        });
    };
    Ok(Scan {
        first,
        start,
        bytes: pos - start,
        frames,
        constant_bitrate: cbr,
    })
}

/// A Xing/Info or VBRI frame: a frame of metadata that decoders skip.
fn is_info_frame(h: &Header, frame: &[u8]) -> bool {
    let at = 4 + h.side_info_len();
    let xing = frame
        .get(at..at + 4)
        .is_some_and(|t| t == b"Xing" || t == b"Info");
    xing || frame.get(36..40).is_some_and(|t| t == b"VBRI")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_audio_of_a_tagged_file_with_an_info_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, seconds) = crate::audio::synth::audio("mp3", 2000);
        let path = dir.path().join("a.mp3");
        std::fs::write(&path, &bytes).unwrap();
        let s = scan(&path).unwrap();
        assert!(
            (s.seconds() - seconds).abs() < 1e-9,
            "{} vs {seconds}",
            s.seconds()
        );
        assert_eq!(s.start + s.bytes, bytes.len() as u64);
        assert_eq!(
            (s.first.sample_rate, s.first.mono, s.first.mpeg1),
            (24_000, true, false)
        );
        assert!(s.constant_bitrate);
    }

    #[test]
    fn refuses_what_is_not_mp3() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp3");
        std::fs::write(&path, b"hello world, not audio").unwrap();
        let e = scan(&path).unwrap_err().to_string();
        assert!(e.contains("a.mp3") && e.contains("byte 0"), "{e}");
    }
}
