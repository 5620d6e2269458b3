//! Real audio bytes for the fake speech API: what a TTS server would send, of a chosen length.
//!
//! Everything is 24 kHz mono, like OpenAI's speech output, and built by hand bit by bit so that
//! the tests need no encoder: every stream here decodes with symphonia (and with ffmpeg), and the
//! duration returned with it is the one a decoder reports, computed as `samples / rate` the same
//! way the library measures it. For mp3 that is with gapless trimming off (symphonia's default):
//! every audio frame counts, the Xing/Info frame does not. ffmpeg, which honours the encoder delay
//! in the LAME tag, plays 1105 samples less.
// This file is `#[path]`-included by several crates (the `it` test binary, the unit tests of
// `src/audio.rs`, a benchmark); each uses only part of it.
#![allow(dead_code)]

/// The sample rate of everything made here, in Hz.
const RATE: u64 = 24_000;

/// Audio in `format` lasting about `millis` ms (rounded to whole frames; at least one frame),
/// with the exact duration a decoder reports, in seconds.
pub fn audio(format: &str, millis: u64) -> (Vec<u8>, f64) {
    match format {
        "mp3" => mp3(millis),
        "aac" => aac(millis),
        "wav" => wav(millis, false),
        "pcm" => pcm(millis),
        "flac" => flac(millis),
        "opus" => opus(millis),
        other => panic!("synth: unknown audio format {other:?}"),
    }
}

/// WAV as the OpenAI API streams it: the RIFF and data chunk sizes are 0xFFFFFFFF because the
/// server does not know the length when it sends the header; the data runs to the end.
pub fn streamed_wav(millis: u64) -> (Vec<u8>, f64) {
    wav(millis, true)
}

/// The number of frames of `frame_samples` samples closest to `millis` ms, at least one.
fn frame_count(millis: u64, rate: u64, frame_samples: u64) -> u64 {
    let samples = u128::from(millis) * u128::from(rate);
    let per_frame = 1000 * u128::from(frame_samples);
    let frames = (samples + per_frame / 2) / per_frame;
    u64::try_from(frames).unwrap_or(u64::MAX).max(1)
}

/// Seconds of `samples` samples at `rate` Hz, computed the one way the library computes it.
fn seconds(samples: u64, rate: u64) -> f64 {
    samples as f64 / rate as f64
}

/// A 440 Hz tone at a quarter of full scale, as 16-bit samples.
fn tone(samples: u64) -> impl Iterator<Item = i16> {
    (0..samples).map(|i| {
        let t = i as f64 / RATE as f64;
        (8192.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()).round() as i16
    })
}

/// Writes bits most significant first, as MPEG, AAC and FLAC headers are laid out.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, width: u32, value: u64) {
        for i in (0..width).rev() {
            if self.bits.is_multiple_of(8) {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            if let Some(last) = self.bytes.last_mut() {
                *last |= bit << (7 - self.bits % 8);
            }
            self.bits += 1;
        }
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

// ---------------------------------------------------------------------------------------------
// mp3

/// MPEG-2 Layer III at 24 kHz: 576 samples per frame.
const MP3_FRAME_SAMPLES: u64 = 576;
/// 64 kbit/s at 24 kHz makes every frame exactly 72 * 64000 / 24000 = 192 bytes, no padding.
const MP3_FRAME_LEN: usize = 192;
/// Frame header: sync, MPEG-2, Layer III, no CRC; bitrate index 8 (64 kbit/s), 24 kHz, no
/// padding; mono.
const MP3_HEADER: [u8; 4] = [0xFF, 0xF3, 0x84, 0xC0];

/// An ID3v2.4 tag, then a Xing "Info" frame with a LAME extension as ffmpeg (and so the OpenAI
/// API) writes them, then the audio frames: each is a steady tone built from one spectral line
/// coded in the count1 region (table B), with main_data_begin = 0 so frames stand alone.
fn mp3(millis: u64) -> (Vec<u8>, f64) {
    let frames = frame_count(millis, RATE, MP3_FRAME_SAMPLES);
    let frames_u32 = u32::try_from(frames).expect("synth: too many mp3 frames");
    let mut out = id3v2_tag();
    let audio_len = MP3_FRAME_LEN * (frames as usize + 1);
    out.extend_from_slice(&mp3_info_frame(frames_u32, audio_len as u32));
    let frame = mp3_tone_frame();
    for _ in 0..frames {
        out.extend_from_slice(&frame);
    }
    (out, seconds(frames * MP3_FRAME_SAMPLES, RATE))
}

/// An ID3v2.4 tag holding one TSSE (encoder) text frame, plus 10 bytes of padding, as ffmpeg
/// writes it.
pub fn id3v2_tag() -> Vec<u8> {
    let text = b"\x03Lavf61.7.100\x00";
    let mut frame = b"TSSE".to_vec();
    frame.extend_from_slice(&syncsafe(text.len() as u32));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(text);
    let body_len = frame.len() + 10;
    let mut tag = b"ID3\x04\x00\x00".to_vec();
    tag.extend_from_slice(&syncsafe(body_len as u32));
    tag.extend_from_slice(&frame);
    tag.extend_from_slice(&[0; 10]);
    tag
}

fn syncsafe(n: u32) -> [u8; 4] {
    [
        ((n >> 21) & 0x7F) as u8,
        ((n >> 14) & 0x7F) as u8,
        ((n >> 7) & 0x7F) as u8,
        (n & 0x7F) as u8,
    ]
}

/// The Xing "Info" frame: zeroed side information, then the tag with the frame count (audio
/// frames only), byte count, a linear seek table, a quality, and a LAME extension naming
/// `Lavc` with the usual encoder delay.
fn mp3_info_frame(frames: u32, bytes: u32) -> Vec<u8> {
    let mut f = MP3_HEADER.to_vec();
    f.extend_from_slice(&[0; 9]);
    f.extend_from_slice(b"Info");
    f.extend_from_slice(&0x0Fu32.to_be_bytes());
    f.extend_from_slice(&frames.to_be_bytes());
    f.extend_from_slice(&bytes.to_be_bytes());
    f.extend((0..100u32).map(|i| (i * 256 / 100) as u8));
    f.extend_from_slice(&0u32.to_be_bytes());
    // LAME extension: encoder, revision, lowpass, peak, two gains, flags, abr, delay/padding,
    // misc, mp3gain, surround/preset, music length, music CRC, tag CRC.
    f.extend_from_slice(b"Lavc61.19");
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let (delay, padding) = (576u32, 0u32);
    let trim = (delay << 12) | padding;
    f.extend_from_slice(&trim.to_be_bytes()[1..]);
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(&bytes.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.resize(MP3_FRAME_LEN, 0);
    f
}

/// One audio frame: a single granule whose only non-zero spectral line is line 21 (about
/// 440 Hz), coded with count1 table B; no scale factors (scalefac_compress 0).
fn mp3_tone_frame() -> Vec<u8> {
    // Main data: five all-zero quadruples (code 1111 each), then the quadruple holding lines
    // 20..=23 with w = 1 (code 15 - 4 = 1011) and its sign bit (positive).
    let mut main = BitWriter::default();
    for _ in 0..5 {
        main.put(4, 0b1111);
    }
    main.put(4, 0b1011);
    main.put(1, 0);
    let part2_3_length = main.bits;
    let main = main.finish();

    // Side information, MPEG-2 mono: 72 bits.
    let mut side = BitWriter::default();
    side.put(8, 0); // main_data_begin
    side.put(1, 0); // private_bits
    side.put(12, u64::from(part2_3_length));
    side.put(9, 0); // big_values
    side.put(8, 200); // global_gain
    side.put(9, 0); // scalefac_compress
    side.put(1, 0); // window_switching_flag
    side.put(15, 0); // table_select[3]
    side.put(4, 0); // region0_count
    side.put(3, 0); // region1_count
    side.put(1, 0); // scalefac_scale
    side.put(1, 1); // count1table_select: table B
    let side = side.finish();
    debug_assert_eq!(side.len(), 9);

    let mut f = MP3_HEADER.to_vec();
    f.extend_from_slice(&side);
    f.extend_from_slice(&main);
    f.resize(MP3_FRAME_LEN, 0);
    f
}

// ---------------------------------------------------------------------------------------------
// aac

/// AAC-LC frames hold 1024 samples.
const AAC_FRAME_SAMPLES: u64 = 1024;

/// ADTS frames (MPEG-4, no CRC, AAC-LC, 24 kHz, mono), each holding a silent raw data block.
fn aac(millis: u64) -> (Vec<u8>, f64) {
    let frames = frame_count(millis, RATE, AAC_FRAME_SAMPLES);
    let frame = adts_frame(&aac_silent_block());
    let mut out = Vec::with_capacity(frame.len() * frames as usize);
    for _ in 0..frames {
        out.extend_from_slice(&frame);
    }
    (out, seconds(frames * AAC_FRAME_SAMPLES, RATE))
}

/// A raw_data_block of one single channel element with max_sfb = 0 (no spectral data: silence),
/// then the END element: 32 bits.
fn aac_silent_block() -> Vec<u8> {
    let mut b = BitWriter::default();
    b.put(3, 0); // id_syn_ele: SCE
    b.put(4, 0); // element_instance_tag
    b.put(8, 100); // global_gain
    b.put(1, 0); // ics_reserved_bit
    b.put(2, 0); // window_sequence: ONLY_LONG_SEQUENCE
    b.put(1, 0); // window_shape
    b.put(6, 0); // max_sfb
    b.put(1, 0); // predictor_data_present
    // section_data and scale_factor_data are empty with max_sfb = 0.
    b.put(1, 0); // pulse_data_present
    b.put(1, 0); // tns_data_present
    b.put(1, 0); // gain_control_data_present
    b.put(3, 7); // id_syn_ele: END
    b.finish()
}

/// Wraps a raw data block in a 7-byte ADTS header.
fn adts_frame(block: &[u8]) -> Vec<u8> {
    let len = 7 + block.len();
    let mut h = BitWriter::default();
    h.put(12, 0xFFF); // syncword
    h.put(1, 0); // ID: MPEG-4
    h.put(2, 0); // layer
    h.put(1, 1); // protection_absent
    h.put(2, 1); // profile: AAC-LC (object type 2, minus 1)
    h.put(4, 6); // sampling_frequency_index: 24 kHz
    h.put(1, 0); // private_bit
    h.put(3, 1); // channel_configuration: mono
    h.put(4, 0); // original/copy, home, copyright id bit and start
    h.put(13, len as u64); // aac_frame_length, header included
    h.put(11, 0x7FF); // adts_buffer_fullness: VBR
    h.put(2, 0); // number_of_raw_data_blocks_in_frame, minus 1
    let mut out = h.finish();
    out.extend_from_slice(block);
    out
}

// ---------------------------------------------------------------------------------------------
// wav and pcm

fn pcm_samples(samples: u64) -> Vec<u8> {
    tone(samples).flat_map(i16::to_le_bytes).collect()
}

/// Raw 16-bit little-endian samples; a frame is one sample.
fn pcm(millis: u64) -> (Vec<u8>, f64) {
    let samples = frame_count(millis, RATE, 1);
    (pcm_samples(samples), seconds(samples, RATE))
}

/// Raw 16-bit samples at another `rate` (a local Piper voice speaks at 22050 Hz).
pub fn pcm_at(millis: u64, rate: u64) -> (Vec<u8>, f64) {
    let samples = frame_count(millis, rate, 1);
    (pcm_samples(samples), seconds(samples, rate))
}

/// The canonical 44-byte header (RIFF, `fmt ` of 16 bytes, `data`) over 16-bit samples.
fn wav(millis: u64, streamed: bool) -> (Vec<u8>, f64) {
    let samples = frame_count(millis, RATE, 1);
    let data = pcm_samples(samples);
    let (riff_len, data_len) = if streamed {
        (u32::MAX, u32::MAX)
    } else {
        let data_len = u32::try_from(data.len()).expect("synth: wav too long");
        (36 + data_len, data_len)
    };
    let mut out = Vec::with_capacity(44 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // channels
    out.extend_from_slice(&(RATE as u32).to_le_bytes());
    out.extend_from_slice(&(RATE as u32 * 2).to_le_bytes()); // bytes per second
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&data);
    (out, seconds(samples, RATE))
}

// ---------------------------------------------------------------------------------------------
// flac

/// Samples per FLAC frame (all but the last, which holds the rest).
const FLAC_BLOCK: u64 = 4096;

/// `fLaC`, a STREAMINFO block with the total sample count, then frames with one VERBATIM
/// subframe of 16-bit samples each, with CRC-8 header and CRC-16 frame checks.
fn flac(millis: u64) -> (Vec<u8>, f64) {
    let samples = frame_count(millis, RATE, 1);
    let mut out = b"fLaC".to_vec();
    // Metadata block header: last block, type 0 (STREAMINFO), 34 bytes.
    out.extend_from_slice(&[0x80, 0, 0, 34]);
    let mut info = BitWriter::default();
    let block = FLAC_BLOCK.min(samples);
    info.put(16, block); // minimum block size
    info.put(16, block); // maximum block size
    info.put(24, 0); // minimum frame size: unknown
    info.put(24, 0); // maximum frame size: unknown
    info.put(20, RATE);
    info.put(3, 0); // channels - 1
    info.put(5, 15); // bits per sample - 1
    info.put(36, samples);
    out.extend_from_slice(&info.finish());
    out.extend_from_slice(&[0; 16]); // MD5 of the samples: unknown
    let all: Vec<i16> = tone(samples).collect();
    for (number, chunk) in all.chunks(FLAC_BLOCK as usize).enumerate() {
        out.extend_from_slice(&flac_frame(number as u64, chunk));
    }
    (out, seconds(samples, RATE))
}

fn flac_frame(number: u64, samples: &[i16]) -> Vec<u8> {
    let mut h = BitWriter::default();
    h.put(14, 0b11_1111_1111_1110); // sync
    h.put(1, 0); // reserved
    h.put(1, 0); // fixed block size: the header carries the frame number
    let explicit = samples.len() as u64 != FLAC_BLOCK;
    // 4096 has its own code (12); any other size is given as a 16-bit value after the number.
    h.put(4, if explicit { 0b0111 } else { 0b1100 });
    h.put(4, 0b0111); // 24 kHz
    h.put(4, 0); // one channel
    h.put(3, 0b100); // 16 bits per sample
    h.put(1, 0); // reserved
    let mut frame = h.finish();
    frame.extend_from_slice(&utf8_number(number));
    if explicit {
        frame.extend_from_slice(&(samples.len() as u16 - 1).to_be_bytes());
    }
    frame.push(crc8(&frame));
    frame.push(0b0000_0010); // subframe header: VERBATIM, no wasted bits
    for s in samples {
        frame.extend_from_slice(&s.to_be_bytes());
    }
    let crc = crc16(&frame);
    frame.extend_from_slice(&crc.to_be_bytes());
    frame
}

/// FLAC's "UTF-8" coding of the frame number.
fn utf8_number(n: u64) -> Vec<u8> {
    if n < 0x80 {
        return vec![n as u8];
    }
    let mut tail = Vec::new();
    let mut rest = n;
    let mut room = 0x3F; // bits the first byte can still hold
    loop {
        tail.push(0x80 | (rest & 0x3F) as u8);
        rest >>= 6;
        room >>= 1;
        if rest <= room {
            break;
        }
    }
    let lead_bits = 0xFFu8 << (7 - tail.len());
    let mut out = vec![lead_bits | rest as u8];
    out.extend(tail.into_iter().rev());
    out
}

fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in bytes {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0u16;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
    }
    crc
}

// ---------------------------------------------------------------------------------------------
// opus

/// The decoder delay ffmpeg's libopus encoder declares, in 48 kHz samples.
const OPUS_PRE_SKIP: u64 = 312;
/// Samples (at 48 kHz, as Ogg Opus always counts) in one 20 ms packet.
const OPUS_PACKET_SAMPLES: u64 = 960;
/// Packets per audio page: one second, like ffmpeg's Ogg muxer.
const OPUS_PACKETS_PER_PAGE: usize = 50;
/// A 20 ms CELT fullband mono frame of digital silence as libopus codes it: TOC 0xF8 (config 31,
/// mono, one frame), then the range-coded silence flag.
const OPUS_SILENT_PACKET: [u8; 3] = [0xF8, 0xFF, 0xFE];

/// An Ogg Opus stream: OpusHead (pre-skip 312) and OpusTags pages, then pages of 20 ms silent
/// packets with granule positions counting 48 kHz samples, the last page flagged EOS. The
/// duration is the last granule position minus the pre-skip.
fn opus(millis: u64) -> (Vec<u8>, f64) {
    // Round so the duration after pre-skip is nearest to what was asked.
    let wanted = millis * 48 + OPUS_PRE_SKIP;
    let packets = frame_count(wanted, 1000, OPUS_PACKET_SAMPLES);
    let serial = 0x5EED_0A05;
    let mut head = b"OpusHead".to_vec();
    head.push(1); // version
    head.push(1); // channels
    head.extend_from_slice(&(OPUS_PRE_SKIP as u16).to_le_bytes());
    head.extend_from_slice(&(RATE as u32).to_le_bytes()); // input sample rate
    head.extend_from_slice(&0i16.to_le_bytes()); // output gain
    head.push(0); // channel mapping family
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"Lavf61.7.100";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    let comment = b"encoder=Lavc61.19.100 libopus";
    tags.extend_from_slice(&1u32.to_le_bytes());
    tags.extend_from_slice(&(comment.len() as u32).to_le_bytes());
    tags.extend_from_slice(comment);

    let mut out = ogg_page(0x02, 0, serial, 0, &[&head]);
    out.extend_from_slice(&ogg_page(0, 0, serial, 1, &[&tags]));
    let mut sequence = 2;
    let mut done = 0u64;
    while done < packets {
        let n = (packets - done).min(OPUS_PACKETS_PER_PAGE as u64);
        done += n;
        let flags = if done == packets { 0x04 } else { 0 };
        let page_packets = vec![&OPUS_SILENT_PACKET[..]; n as usize];
        let granule = done * OPUS_PACKET_SAMPLES;
        out.extend_from_slice(&ogg_page(flags, granule, serial, sequence, &page_packets));
        sequence += 1;
    }
    let samples = packets * OPUS_PACKET_SAMPLES - OPUS_PRE_SKIP;
    (out, seconds(samples, 48_000))
}

/// One Ogg page holding whole `packets` (each under 255 * 255 bytes).
fn ogg_page(flags: u8, granule: u64, serial: u32, sequence: u32, packets: &[&[u8]]) -> Vec<u8> {
    let mut lacing = Vec::new();
    for p in packets {
        lacing.extend(std::iter::repeat_n(255u8, p.len() / 255));
        lacing.push((p.len() % 255) as u8);
    }
    let mut page = b"OggS".to_vec();
    page.push(0); // version
    page.push(flags);
    page.extend_from_slice(&granule.to_le_bytes());
    page.extend_from_slice(&serial.to_le_bytes());
    page.extend_from_slice(&sequence.to_le_bytes());
    page.extend_from_slice(&[0; 4]); // CRC, filled in below
    page.push(u8::try_from(lacing.len()).expect("synth: too many packets for one page"));
    page.extend_from_slice(&lacing);
    for p in packets {
        page.extend_from_slice(p);
    }
    let crc = ogg_crc(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    page
}

/// CRC-32 of Ogg pages: polynomial 0x04C11DB7, not reflected, initial value and final XOR 0.
fn ogg_crc(bytes: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in bytes {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}
