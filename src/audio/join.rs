//! What every join shares: the joined file's clock (where each piece starts, pauses rounded
//! to whole frames), and the output written through a buffer with headers patched at the end.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use super::{AudioError, COPY_BUFFER, Joined, read_error};

/// A joined file's clock: where each piece starts and where the file ends, in samples at
/// `rate`, and the cumulative pause rounding.
pub(super) struct Timeline {
    pub rate: u32,
    pub starts: Vec<u64>,
    pub end: u64,
    /// Pauses made so far, to carry their rounding.
    pauses_done: u32,
    /// The samples of each pause, in order: piece `i` ends where piece `i + 1` starts, less
    /// the pause between them.
    pauses: Vec<u64>,
}

impl Timeline {
    pub(super) fn new(rate: u32) -> Timeline {
        Timeline {
            rate,
            starts: Vec::new(),
            end: 0,
            pauses_done: 0,
            pauses: Vec::new(),
        }
    }

    /// Marks the start of the next piece at the current end.
    pub(super) fn piece_starts(&mut self) {
        self.starts.push(self.end);
    }

    /// How many frames of `frame_samples` samples the next pause takes so that the pauses so
    /// far add up to the nearest whole frame of `pause` × their count.
    pub(super) fn pause_frames(&mut self, pause: Duration, frame_samples: u64) -> u64 {
        let before = self.pauses_done;
        self.pauses_done = self.pauses_done.saturating_add(1);
        let total = |count: u32| frames_in(pause.saturating_mul(count), self.rate, frame_samples);
        let frames = total(self.pauses_done).saturating_sub(total(before));
        self.pauses.push(frames.saturating_mul(frame_samples));
        frames
    }

    pub(super) fn seconds(&self, samples: u64) -> f64 {
        samples as f64 / f64::from(self.rate.max(1))
    }

    pub(super) fn into_joined(self, bytes: u64) -> Joined {
        let ends = (0..self.starts.len()).map(|i| match self.starts.get(i + 1) {
            Some(&next) => next.saturating_sub(self.pauses.get(i).copied().unwrap_or(0)),
            None => self.end,
        });
        Joined {
            bytes,
            seconds: self.seconds(self.end),
            starts: self.starts.iter().map(|&s| self.seconds(s)).collect(),
            ends: ends.map(|e| self.seconds(e)).collect(),
        }
    }
}

/// Whole frames of `frame_samples` samples nearest to `duration` at `rate`.
pub(super) fn frames_in(duration: Duration, rate: u32, frame_samples: u64) -> u64 {
    let samples = duration.as_nanos() * u128::from(rate);
    let per_frame = 1_000_000_000 * u128::from(frame_samples.max(1));
    u64::try_from((samples + per_frame / 2) / per_frame).unwrap_or(u64::MAX)
}

/// The joined file, written through a buffer, counting what went through it; containers whose
/// header states totals write a placeholder first and `patch` it at the end.
pub(super) struct Output<W: Write + Seek> {
    inner: BufWriter<W>,
    pub written: u64,
}

impl<W: Write + Seek> Output<W> {
    pub(super) fn new(file: W) -> Output<W> {
        Output {
            inner: BufWriter::with_capacity(COPY_BUFFER, file),
            written: 0,
        }
    }

    pub(super) fn put(&mut self, bytes: &[u8]) -> Result<(), AudioError> {
        self.inner.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Overwrites bytes already written at `offset` (a header whose totals are known only now).
    /// Seeks are relative: the output need not start at the start of the file.
    pub(super) fn patch(&mut self, offset: u64, bytes: &[u8]) -> Result<(), AudioError> {
        let distance = |n: u64| i64::try_from(n).map_err(io::Error::other);
        let back = distance(self.written.saturating_sub(offset))?;
        let forward = distance(
            self.written
                .saturating_sub(offset)
                .saturating_sub(bytes.len() as u64),
        )?;
        self.inner.seek(SeekFrom::Current(-back))?;
        self.inner.write_all(bytes)?;
        self.inner.seek(SeekFrom::Current(forward))?;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<u64, AudioError> {
        self.inner.flush()?;
        Ok(self.written)
    }
}

impl<W: Write + Seek> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Copies `file` from its current position to `writer`: `len` bytes, or to the end if `None`.
/// Errors if the file ends before `len` bytes.
pub(super) fn copy_exact<W: Write + Seek>(
    path: &Path,
    file: &mut File,
    writer: &mut Output<W>,
    len: Option<u64>,
) -> Result<(), AudioError> {
    let mut buf = vec![0; COPY_BUFFER];
    let mut left = len.unwrap_or(u64::MAX);
    while left > 0 {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(path)(e)),
        };
        if n == 0 {
            if len.is_some() {
                return Err(read_error(path)(io::ErrorKind::UnexpectedEof.into()));
            }
            break;
        }
        writer.put(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}
