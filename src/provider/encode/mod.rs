//! Encoding synthesized samples into each `--audio-format`, in-process, one file per
//! container, for every voice that hands over PCM (espeak-ng, Piper, the Realtime API) at
//! whatever rate it speaks: WAV and raw PCM (`wav.rs`, which also reads the voices' WAV), MP3 with LAME (`mp3.rs`), FLAC (`flac.rs`),
//! Ogg Opus (`opus.rs`), and the resampler (`resample.rs`) to the API's 24 kHz for `pcm` and
//! Opus, and to a rate LAME knows for MP3. AAC has no lean, freely licensed encoder crate
//! (fdk-aac's licence is not a free one, the others bind ffmpeg's libraries): it is refused
//! with a clear error rather than run through a program.

mod flac;
mod mp3;
mod opus;
mod resample;
mod wav;

use crate::domain::AudioFormat;

pub use resample::resample;
pub use wav::read as read_wav;

/// The rate of raw `pcm` (the API's: 24 kHz 16-bit mono little-endian), and of Opus here.
pub const API_RATE: u32 = 24_000;

/// Mono 16-bit samples and their rate: what a local voice synthesizes, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    /// Samples per second (22,050 for espeak-ng's voices; 16,000 or 22,050 for Piper's; 24,000
    /// for the Realtime API's).
    pub rate: u32,
    /// The samples, in order.
    pub samples: Vec<i16>,
}

#[cfg(test)]
impl Samples {
    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.rate)
    }
}

/// What can go wrong while encoding.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// A format this provider cannot write.
    #[error(
        "aac is not available with the in-process encoders (no freely licensed AAC encoder to \
build in); use --audio-format mp3, opus, flac or wav"
    )]
    AacUnavailable,
    /// The sample rate does not fit the encoder.
    #[error("cannot encode {format} at {rate} Hz")]
    Rate { format: &'static str, rate: u32 },
    /// An encoder library refused the samples.
    #[error("{format} encoder failed: {detail}")]
    Encoder {
        format: &'static str,
        detail: String,
    },
    /// Too much audio for one file of this format.
    #[error("{format}: {samples} samples do not fit in one file")]
    TooLong {
        format: &'static str,
        samples: usize,
    },
}

fn encoder_error(format: &'static str) -> impl Fn(String) -> EncodeError {
    move |detail| EncodeError::Encoder { format, detail }
}

/// Encodes `pcm` as `format`: the whole file's bytes.
pub fn encode(pcm: &Samples, format: AudioFormat) -> Result<Vec<u8>, EncodeError> {
    match format {
        AudioFormat::Wav => wav::write(pcm),
        AudioFormat::Pcm => Ok(wav::raw_le(&resample(pcm, API_RATE).samples)),
        AudioFormat::Mp3 => mp3::encode(pcm),
        AudioFormat::Flac => flac::encode(pcm),
        AudioFormat::Opus => opus::encode(pcm),
        AudioFormat::Aac => Err(EncodeError::AacUnavailable),
    }
}

/// A 440 Hz tone of `seconds` at `rate`, for the encoders' unit tests.
#[cfg(test)]
fn tone(rate: u32, seconds: f64) -> Samples {
    let n = (f64::from(rate) * seconds) as usize;
    let samples = (0..n)
        .map(|i| {
            ((i as f64 * 440.0 * 2.0 * std::f64::consts::PI / f64::from(rate)).sin() * 8000.0)
                as i16
        })
        .collect();
    Samples { rate, samples }
}

/// `ffmpeg`'s idea of a file's length: decoded to the last sample, at 48 kHz. Raw `pcm` is
/// read as the API's 24 kHz.
#[cfg(test)]
pub(crate) fn decoded_seconds(path: &std::path::Path, raw_pcm: bool) -> f64 {
    let mut command = std::process::Command::new("ffmpeg");
    command.args(["-v", "error", "-nostdin"]);
    if raw_pcm {
        command.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    let output = command
        .arg("-i")
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout.len() as f64 / 2.0 / 48_000.0
}

/// Writes `pcm` in every format the encoders have, and checks that each passes the run's
/// audio check and decodes to `expected` seconds: within one frame of its format, plus the
/// 48 kHz rounding of the measurement.
#[cfg(test)]
pub(crate) fn assert_every_format_decodes_to(pcm: &Samples, expected: f64) {
    let dir = tempfile::tempdir().unwrap();
    let mp3_frame = 576.0 / f64::from(mp3::rate_for(pcm.rate));
    for (format, ext, frame) in [
        (AudioFormat::Wav, "wav", 0.0),
        (AudioFormat::Pcm, "pcm", 1.0 / 24_000.0),
        (AudioFormat::Mp3, "mp3", mp3_frame),
        (AudioFormat::Flac, "flac", 0.0),
        (AudioFormat::Opus, "opus", 0.020),
    ] {
        let path = dir.path().join(format!("out.{ext}"));
        std::fs::write(&path, encode(pcm, format).unwrap()).unwrap();
        let checked = crate::audio::validate(format, &path);
        assert!(checked.is_ok(), "{ext} at {} Hz: {checked:?}", pcm.rate);
        let got = decoded_seconds(&path, format == AudioFormat::Pcm);
        let tolerance = frame + 2.0 / 48_000.0;
        assert!(
            (got - expected).abs() <= tolerance,
            "{ext} at {} Hz: {got} vs {expected}",
            pcm.rate
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aac_is_refused_with_alternatives() {
        let error = encode(&tone(22_050, 0.1), AudioFormat::Aac)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("aac is not available"), "{error}");
        assert!(error.contains("mp3"), "{error}");
    }

    /// espeak-ng's and Piper's 22,050 Hz, Piper's 16,000 Hz, the Realtime API's 24,000 Hz, and
    /// rates MP3 does not have (44,100 and 48,000 it has; 11,000 and 96,000 it does not).
    #[test]
    fn every_rate_encodes_to_its_length_in_every_format() {
        for rate in [22_050, 16_000, 24_000, 44_100, 11_000, 96_000] {
            let pcm = tone(rate, 1.3);
            assert_every_format_decodes_to(&pcm, pcm.seconds());
        }
    }
}
