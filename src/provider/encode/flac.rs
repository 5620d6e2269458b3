//! FLAC with the pure-Rust `flacenc`.

use super::{EncodeError, Samples, encoder_error};

/// FLAC at the samples' own rate, 16-bit mono; `flacenc` writes STREAMINFO with the true
/// sample count and MD5.
pub fn encode(pcm: &Samples) -> Result<Vec<u8>, EncodeError> {
    use flacenc::component::BitRepr;
    use flacenc::error::Verify;
    let fail = encoder_error("flac");
    let config = flacenc::config::Encoder::default()
        .into_verified()
        .map_err(|(_, e)| fail(e.to_string()))?;
    let samples: Vec<i32> = pcm.samples.iter().map(|s| i32::from(*s)).collect();
    let rate = usize::try_from(pcm.rate).map_err(|e| fail(e.to_string()))?;
    let source = flacenc::source::MemSource::from_samples(&samples, 1, 16, rate);
    let mut stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .map_err(|e| fail(e.to_string()))?;
    // flacenc counts the short last block in the minimum block size; the format excludes it,
    // and readers (symphonia) take min != max for a variable-block stream and find no frames.
    let info = stream.stream_info_mut();
    let max = info.max_block_size();
    info.set_block_sizes(max, max)
        .map_err(|e| fail(e.to_string()))?;
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream.write(&mut sink).map_err(|e| fail(e.to_string()))?;
    Ok(sink.into_inner())
}
