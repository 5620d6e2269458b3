//! FLAC: where the frames start after the metadata blocks.

use std::fs::File;
use std::path::Path;

use super::{AudioError, damaged, read_at};
use crate::domain::AudioFormat;

/// The length of `fLaC` and the metadata blocks: where the first FLAC frame starts.
pub(super) fn flac_metadata_len(path: &Path, file: &mut File, len: u64) -> Result<u64, AudioError> {
    let mut pos = 4u64;
    loop {
        let mut header = [0u8; 4];
        if !read_at(file, path, pos, &mut header)? {
            return Err(damaged(
                AudioFormat::Flac,
                path,
                "the metadata blocks are cut short",
            ));
        }
        pos += 4 + u64::from(u32::from_be_bytes([0, header[1], header[2], header[3]]));
        if pos > len {
            return Err(damaged(
                AudioFormat::Flac,
                path,
                "a metadata block runs past the end of the file",
            ));
        }
        if header[0] & 0x80 != 0 {
            return Ok(pos);
        }
    }
}
