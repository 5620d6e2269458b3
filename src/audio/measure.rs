//! Measuring with symphonia: demuxing a stream and summing its packets' durations (every frame
//! counted, nothing estimated from the bitrate).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadOnlySource};
use symphonia::default::formats::FlacReader;
#[cfg(test)]
use symphonia::default::formats::{AdtsReader, MpaReader};

use super::tags::Region;
use super::{AudioError, damaged, read_error};
use crate::domain::AudioFormat;

/// Samples counted by demuxing a stream.
pub(super) struct Counted {
    pub samples: u64,
    /// Bytes in the packets.
    pub bytes: u64,
    pub rate: u32,
    /// The total the container's header promises, if it says.
    pub promised: Option<u64>,
}

impl Counted {
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.rate)
    }
}

/// The symphonia readers we measure with.
#[derive(Clone, Copy)]
pub(super) enum Demuxer {
    // MP3 and ADTS answers are checked and counted by walking their frames (`frames.rs`);
    // symphonia's readers of them are the tests' second opinion.
    #[cfg(test)]
    Mpeg,
    #[cfg(test)]
    Adts,
    Flac,
}

impl Demuxer {
    /// The reader for an mp3 or aac file.
    #[cfg(test)]
    pub(super) fn for_frames(format: AudioFormat) -> Demuxer {
        if format == AudioFormat::Mp3 {
            Demuxer::Mpeg
        } else {
            Demuxer::Adts
        }
    }
}

/// Demuxes `region` of `file` with the format's symphonia reader and sums packet durations,
/// handing each packet to `on_packet` (its bytes and duration in samples).
///
/// The source is deliberately not seekable: symphonia 0.5's ADTS reader estimates the duration of
/// a seekable stream with arithmetic that overflows (a panic in debug builds) on short or odd
/// input, and the estimates of its readers are not wanted here anyway.
pub(super) fn demux_with_symphonia(
    demuxer: Demuxer,
    path: &Path,
    mut file: File,
    region: Region,
    mut on_packet: impl FnMut(&[u8], u64) -> Result<(), AudioError>,
) -> Result<Counted, AudioError> {
    let format = match demuxer {
        #[cfg(test)]
        Demuxer::Mpeg => AudioFormat::Mp3,
        #[cfg(test)]
        Demuxer::Adts => AudioFormat::Aac,
        Demuxer::Flac => AudioFormat::Flac,
    };
    file.seek(SeekFrom::Start(region.start))
        .map_err(read_error(path))?;
    let source = ReadOnlySource::new(file.take(region.end.saturating_sub(region.start)));
    let stream = MediaSourceStream::new(Box::new(source), Default::default());
    let options = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    let unreadable = |source: SymphoniaError| match source {
        SymphoniaError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            AudioError::NoAudio {
                format,
                path: path.to_path_buf(),
            }
        }
        source => AudioError::Unreadable {
            format,
            path: path.to_path_buf(),
            source,
        },
    };
    let mut reader: Box<dyn FormatReader> = match demuxer {
        #[cfg(test)]
        Demuxer::Mpeg => Box::new(MpaReader::try_new(stream, &options).map_err(unreadable)?),
        #[cfg(test)]
        Demuxer::Adts => Box::new(AdtsReader::try_new(stream, &options).map_err(unreadable)?),
        Demuxer::Flac => Box::new(FlacReader::try_new(stream, &options).map_err(unreadable)?),
    };
    let params = reader
        .tracks()
        .first()
        .map(|track| (track.codec_params.sample_rate, track.codec_params.n_frames));
    let (rate, promised) = match params {
        Some((Some(rate), promised)) if rate > 0 => (rate, promised),
        _ => return Err(damaged(format, path, "no sample rate in the stream")),
    };
    let mut samples = 0u64;
    let mut bytes = 0u64;
    loop {
        match reader.next_packet() {
            Ok(packet) => {
                samples = samples.saturating_add(packet.dur);
                bytes += packet.buf().len() as u64;
                on_packet(packet.buf(), packet.dur)?;
            }
            Err(SymphoniaError::IoError(e)) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(source) => {
                return Err(AudioError::Unreadable {
                    format,
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(Counted {
        samples,
        bytes,
        rate,
        promised,
    })
}

pub(super) fn count_with_symphonia(
    demuxer: Demuxer,
    path: &Path,
    file: File,
    region: Region,
) -> Result<Counted, AudioError> {
    demux_with_symphonia(demuxer, path, file, region, |_, _| Ok(()))
}
