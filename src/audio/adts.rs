//! AAC in ADTS frames: headers, silent frames, and joining pieces frame by frame. ADTS has no
//! file header, so a joined file is the frames back to back and states no length of its own:
//! players count the frames.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::frames::{self, FrameInfo};
use super::tags;
use super::{AudioError, BitWriter, Output, Timeline, file_len, mismatch, no_silence, open};
use crate::domain::AudioFormat;

pub(super) const HEADER_LEN: usize = 7;

/// ADTS frames as `frames` walks them: every frame is audio.
pub(super) const FRAMES: frames::Container = frames::Container {
    format: AudioFormat::Aac,
    header_len: HEADER_LEN,
    parse: parse_header,
    is_tag_frame: |_, _| false,
};

/// AAC sample rates by ADTS sampling_frequency_index.
const RATES: [u32; 13] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
    7_350,
];

/// AAC-LC frames hold 1024 samples.
const FRAME_SAMPLES: u64 = 1024;

pub(super) fn sync(head: &[u8]) -> bool {
    matches!(head, [0xFF, second, ..] if second & 0xF6 == 0xF0)
}

/// Parses an ADTS header (the first 7 bytes of `b`). Only the form symphonia reads is accepted:
/// MPEG-4 id, no CRC, one raw data block per frame; it is what ffmpeg (and so the API) writes.
pub(super) fn parse_header(b: &[u8]) -> Result<FrameInfo, &'static str> {
    let &[b0, b1, b2, b3, b4, b5, b6, ..] = b else {
        return Err("short ADTS header");
    };
    if b0 != 0xFF || b1 & 0xF6 != 0xF0 {
        return Err("no ADTS frame sync");
    }
    if b1 != 0xF1 {
        return Err("unsupported ADTS header (MPEG-2 id or CRC-protected)");
    }
    let sample_rate = *RATES
        .get(usize::from((b2 >> 2) & 0x0F))
        .ok_or("reserved ADTS sample rate")?;
    let len = (usize::from(b3 & 0b11) << 11) | (usize::from(b4) << 3) | usize::from(b5 >> 5);
    if len < HEADER_LEN {
        return Err("ADTS frame shorter than its header");
    }
    if b6 & 0b11 != 0 {
        return Err("unsupported ADTS frame with several raw data blocks");
    }
    Ok(FrameInfo {
        len,
        sample_rate,
        channels: ((b2 & 1) << 2) | (b3 >> 6),
        profile: b2 >> 6,
        side_info: 0,
        samples: FRAME_SAMPLES,
        header: [b0, b1, b2, b3, b4, b5, b6],
    })
}

/// An ADTS frame of digital silence in the stream of `stream`: one raw data block whose
/// channel elements have no scale factor bands (max_sfb = 0), which decodes to zeros. Made for
/// AAC-LC (the profile ffmpeg and the speech APIs use) in mono (one SCE) or stereo (one CPE).
fn silent_frame(stream: &FrameInfo, path: &Path) -> Result<Vec<u8>, AudioError> {
    let format = AudioFormat::Aac;
    if stream.profile != 1 {
        return Err(no_silence(
            format,
            path,
            format!("ADTS profile {} is not AAC-LC", stream.profile),
        ));
    }
    let mut b = BitWriter::default();
    let silent_ics = |b: &mut BitWriter| {
        b.put(8, 100); // global_gain
        b.put(1, 0); // ics_reserved_bit
        b.put(2, 0); // window_sequence: ONLY_LONG_SEQUENCE
        b.put(1, 0); // window_shape
        b.put(6, 0); // max_sfb: no bands, no section or scale factor data
        b.put(1, 0); // predictor_data_present
        b.put(1, 0); // pulse_data_present
        b.put(1, 0); // tns_data_present
        b.put(1, 0); // gain_control_data_present
    };
    match stream.channels {
        1 => {
            b.put(3, 0); // id_syn_ele: SCE
            b.put(4, 0); // element_instance_tag
            silent_ics(&mut b);
        }
        2 => {
            b.put(3, 1); // id_syn_ele: CPE
            b.put(4, 0); // element_instance_tag
            b.put(1, 0); // common_window: each channel its own ics
            silent_ics(&mut b);
            silent_ics(&mut b);
        }
        n => {
            return Err(no_silence(
                format,
                path,
                format!("channel configuration {n}"),
            ));
        }
    }
    b.put(3, 7); // id_syn_ele: END
    let block = b.finish();
    let len = HEADER_LEN + block.len();
    let [b0, b1, b2, b3, _, _, _] = stream.header;
    // The stream's header with this frame's length, buffer fullness 0x7FF (VBR), one block.
    let mut frame = vec![
        b0,
        b1,
        b2,
        (b3 & 0xFC) | ((len >> 11) & 0b11) as u8,
        ((len >> 3) & 0xFF) as u8,
        (((len & 0b111) << 5) as u8) | 0x1F,
        0xFC,
    ];
    frame.extend_from_slice(&block);
    Ok(frame)
}

/// The first frame of an ADTS file.
fn first_frame(path: &Path) -> Result<FrameInfo, AudioError> {
    let format = AudioFormat::Aac;
    let mut file = open(path)?;
    let len = file_len(&file, path)?;
    let region = tags::audio_region(format, path, &mut file, len)?;
    let mut first = None;
    // The error is only a way out of the walk once the first frame is seen.
    let walked = frames::walk(&FRAMES, path, &mut file, region, |_, info, _| {
        first = Some(*info);
        Err(AudioError::CannotJoin { format, count: 0 })
    });
    match (walked, first) {
        (_, Some(info)) => Ok(info),
        (Err(e), None) => Err(e),
        (Ok(()), None) => Err(AudioError::NoAudio {
            format,
            path: path.to_path_buf(),
        }),
    }
}

pub(super) fn join<W: Write + Seek>(
    pieces: &[PathBuf],
    pause: Duration,
    out: &mut Output<W>,
) -> Result<Timeline, AudioError> {
    let format = AudioFormat::Aac;
    let Some(first) = pieces.first() else {
        return Err(AudioError::CannotJoin { format, count: 0 });
    };
    let stream = first_frame(first)?;
    let mut timeline = Timeline::new(stream.sample_rate);
    let mut silence: Option<Vec<u8>> = None;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            let frames = timeline.pause_frames(pause, FRAME_SAMPLES);
            if frames > 0 && silence.is_none() {
                silence = Some(silent_frame(&stream, first)?);
            }
            if let Some(frame) = &silence {
                for _ in 0..frames {
                    out.put(frame)?;
                }
            }
            timeline.end = timeline
                .end
                .saturating_add(frames.saturating_mul(FRAME_SAMPLES));
        }
        timeline.piece_starts();
        let mut file = open(piece)?;
        let len = file_len(&file, piece)?;
        let region = tags::audio_region(format, piece, &mut file, len)?;
        frames::walk(&FRAMES, piece, &mut file, region, |_, info, frame| {
            if !stream.same_stream(info) {
                return Err(mismatch(format, piece, stream.describe(), info.describe()));
            }
            timeline.end = timeline.end.saturating_add(FRAME_SAMPLES);
            out.put(frame)
        })?;
    }
    Ok(timeline)
}
