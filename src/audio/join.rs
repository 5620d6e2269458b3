//! Joining the pieces of one item into one file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::frames::join_frames;
use super::wav::join_wav;
use super::{AudioError, COPY_BUFFER, CountingWriter, copy_exact, damaged, file_len, open};
use crate::domain::AudioFormat;

/// Joins the pieces of one item, in order, into `out` (already created, empty; the caller does
/// fsync/rename). Streams: never holds a whole piece in memory (copy with a buffer).
/// mp3: drop each piece's ID3v2 tag (header size, with footer flag), ID3v1 "TAG" trailer, APEv2
///   tag if present, and any Xing/Info/VBRI frame (the first frame, if it carries one); write the
///   remaining MPEG frames back to back. Refuse (error) pieces whose sample rate or channel mode
///   differ from the first piece.
/// aac: ADTS frames back to back (strip ID3 if present); same sample-rate/channel check.
/// wav: one RIFF/WAVE header (fmt from the first piece; all pieces must have the same fmt) over all
///   pieces' sample data, with correct RIFF and data sizes (error if the total exceeds 4 GiB);
///   per-piece sizes may be the streaming 0xFFFFFFFF.
/// pcm: bytes back to back.
/// opus/flac: Ok for exactly one piece (copied as is), else `AudioError::CannotJoin`.
/// Returns bytes written.
///
/// The output is always the bare stream, even for one mp3 or aac piece: a Xing frame counting
/// one piece's frames would misdescribe the whole. A piece that is damaged (frames that do not
/// walk to the end, a partial sample) is refused rather than glued in, since it would shift
/// everything after it. On error `out` holds partial output and should be discarded.
pub fn join(format: AudioFormat, pieces: &[PathBuf], out: &mut File) -> Result<u64, AudioError> {
    if pieces.is_empty() || (!format.can_join() && pieces.len() != 1) {
        return Err(AudioError::CannotJoin {
            format,
            count: pieces.len(),
        });
    }
    let mut writer = CountingWriter {
        inner: BufWriter::with_capacity(COPY_BUFFER, out),
        written: 0,
    };
    match format {
        AudioFormat::Mp3 | AudioFormat::Aac => join_frames(format, pieces, &mut writer)?,
        AudioFormat::Wav => join_wav(pieces, &mut writer)?,
        AudioFormat::Pcm | AudioFormat::Opus | AudioFormat::Flac => {
            for piece in pieces {
                let mut file = open(piece)?;
                if format == AudioFormat::Pcm {
                    let len = file_len(&file, piece)?;
                    if len % 2 != 0 {
                        return Err(damaged(
                            format,
                            piece,
                            format!("{len} bytes is not a whole number of 16-bit samples"),
                        ));
                    }
                }
                copy_exact(piece, &mut file, &mut writer, None)?;
            }
        }
    }
    writer.inner.flush()?;
    Ok(writer.written)
}
