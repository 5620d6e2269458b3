//! MP3 with LAME (the `mp3lame-encoder` crate builds LAME 3.100, LGPL, into the binary; the
//! source of this program being open, a user can relink it), with the LAME tag that states the
//! true length.

use super::{EncodeError, Samples, encoder_error, resample};

/// The rates MP3 has (MPEG-1, 2 and 2.5 Layer III), lowest first.
const MP3_RATES: [u32; 9] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

/// The rate an MP3 of `rate` samples is written at: the same when MP3 has it (22,050 and
/// 16,000 for the local voices, 24,000 for the API's), else the next one up, else 48 kHz.
pub fn rate_for(rate: u32) -> u32 {
    MP3_RATES.into_iter().find(|r| *r >= rate).unwrap_or(48_000)
}

/// MP3 at the samples' own rate where MP3 has it (22050 Hz: MPEG-2 Layer III), else resampled
/// to the next rate up; constant 64 kbit/s mono. LAME leaves room for its tag in the first
/// frame; once flushed, the real tag (frame count, encoder delay and padding) is written
/// there, so players and `ffmpeg` decode exactly the synthesized length.
pub fn encode(source: &Samples) -> Result<Vec<u8>, EncodeError> {
    use mp3lame_encoder::{Bitrate, Builder, FlushGap, Mode, MonoPcm, Quality};
    let fail = encoder_error("mp3");
    let resampled;
    let pcm = match rate_for(source.rate) {
        rate if rate == source.rate => source,
        rate => {
            resampled = resample(source, rate);
            &resampled
        }
    };
    let mut builder = Builder::new().ok_or_else(|| fail("out of memory".into()))?;
    builder
        .set_num_channels(1)
        .map_err(|e| fail(e.to_string()))?;
    builder
        .set_sample_rate(pcm.rate)
        .map_err(|e| fail(e.to_string()))?;
    let out_rate = std::num::NonZeroU32::new(pcm.rate).ok_or(EncodeError::Rate {
        format: "mp3",
        rate: pcm.rate,
    })?;
    builder
        .set_output_sample_rate(Some(out_rate))
        .map_err(|e| fail(e.to_string()))?;
    builder
        .set_mode(Mode::Mono)
        .map_err(|e| fail(e.to_string()))?;
    builder
        .set_brate(Bitrate::Kbps64)
        .map_err(|e| fail(e.to_string()))?;
    // LAME's default speed/quality trade-off (-q 5): the synthesized voice gains nothing
    // audible from the slower searches.
    builder
        .set_quality(Quality::Good)
        .map_err(|e| fail(e.to_string()))?;
    builder
        .set_to_write_vbr_tag(true)
        .map_err(|e| fail(e.to_string()))?;
    let mut encoder = builder.build().map_err(|e| fail(e.to_string()))?;
    let mut out = Vec::new();
    // LAME's worst case: 1.25 × samples + 7200 bytes, per call.
    for block in pcm.samples.chunks(1 << 16) {
        out.reserve(block.len() * 5 / 4 + 7200);
        encoder
            .encode_to_vec(MonoPcm(block), &mut out)
            .map_err(|e| fail(e.to_string()))?;
    }
    out.reserve(7200);
    encoder
        .flush_to_vec::<FlushGap>(&mut out)
        .map_err(|e| fail(e.to_string()))?;
    let mut tag = Vec::with_capacity(encoder.lame_tag_size());
    encoder.lame_tag_encode_to_vec(&mut tag);
    match out.get_mut(..tag.len()) {
        Some(first_frame) if !tag.is_empty() => first_frame.copy_from_slice(&tag),
        _ => return Err(fail("no room for the LAME tag".into())),
    }
    Ok(out)
}
