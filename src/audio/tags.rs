//! The tags around the frames of MP3 and ADTS files: ID3v2 at the start, ID3v1 and APEv2 at
//! the end. They are no audio and are never joined into the middle of a stream.

use std::fs::File;
use std::path::Path;

use super::{AudioError, damaged, read_at};
use crate::domain::AudioFormat;

/// The bytes of a file that hold frames, between leading and trailing tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Region {
    pub start: u64,
    pub end: u64,
}

/// The size of an ID3v2 header or footer.
const ID3V2_HEADER: usize = 10;

pub(super) fn id3v2_at_start(head: &[u8]) -> bool {
    match head {
        [b'I', b'D', b'3', rest @ ..] => match rest.get(..7) {
            Some(header) => id3v2_size(header).is_some(),
            None => true,
        },
        _ => false,
    }
}

/// The full size of an ID3v2 tag from the 7 header bytes after "ID3" (version, revision, flags,
/// syncsafe size): header, body, and the footer if its flag is set.
fn id3v2_size(after_magic: &[u8]) -> Option<u64> {
    let [major, revision, flags, s0, s1, s2, s3] = *after_magic else {
        return None;
    };
    if major == 0xFF || revision == 0xFF || [s0, s1, s2, s3].iter().any(|b| b & 0x80 != 0) {
        return None;
    }
    let body = (u64::from(s0) << 21) | (u64::from(s1) << 14) | (u64::from(s2) << 7) | u64::from(s3);
    let footer = if major >= 4 && flags & 0x10 != 0 {
        ID3V2_HEADER as u64
    } else {
        0
    };
    Some(ID3V2_HEADER as u64 + body + footer)
}

/// Finds the frames of an mp3 or aac file: after any ID3v2 tags at the start, before an ID3v1
/// and/or APEv2 tag at the end.
pub(super) fn audio_region(
    format: AudioFormat,
    path: &Path,
    file: &mut File,
    len: u64,
) -> Result<Region, AudioError> {
    let mut start = 0u64;
    let mut header = [0u8; ID3V2_HEADER];
    // Several tags in a row are legal; each is skipped whole.
    while read_at(file, path, start, &mut header)? && header.starts_with(b"ID3") {
        let size = id3v2_size(&header[3..]).ok_or_else(|| {
            damaged(
                format,
                path,
                format!("bad ID3v2 tag header at byte {start}"),
            )
        })?;
        if size > len - start {
            return Err(damaged(
                format,
                path,
                "the ID3v2 tag runs past the end of the file",
            ));
        }
        start += size;
    }
    let mut end = len;
    let mut magic = [0u8; 3];
    if end - start >= 128 && read_at(file, path, end - 128, &mut magic)? && &magic == b"TAG" {
        end -= 128;
    }
    let mut footer = [0u8; 32];
    if end - start >= 32
        && read_at(file, path, end - 32, &mut footer)?
        && footer.starts_with(b"APETAGEX")
    {
        let size = u64::from(u32::from_le_bytes([
            footer[12], footer[13], footer[14], footer[15],
        ]));
        let has_header = footer[23] & 0x80 != 0;
        let total = size + if has_header { 32 } else { 0 };
        if size < 32 || total > end - start {
            return Err(damaged(
                format,
                path,
                "bad APEv2 tag at the end of the file",
            ));
        }
        end -= total;
    }
    Ok(Region { start, end })
}
