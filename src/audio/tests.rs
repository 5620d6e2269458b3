//! Unit tests of validating, measuring and joining, on the synthetic audio of the test server
//! (`tests/it/support/synth.rs`) and on what ffmpeg makes (`ffmpeg`).

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use proptest::prelude::*;

#[path = "../../tests/it/support/decode.rs"]
mod decode;
#[path = "tests_ffmpeg.rs"]
mod ffmpeg;
use super::synth;

const JOINABLE: [AudioFormat; 6] = AudioFormat::ALL;
const JSON_ERROR: &[u8] = br#"{"error":{"message":"Rate limit reached for tts-1","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const HTML: &[u8] = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head></html>";

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn synth_file(
    dir: &tempfile::TempDir,
    name: &str,
    format: AudioFormat,
    millis: u64,
) -> (PathBuf, f64) {
    let (bytes, seconds) = synth::audio(format.as_str(), millis);
    (write(dir, &format!("{name}.{format}"), &bytes), seconds)
}

fn head(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(HEAD_LEN)]
}

/// Joins `pieces` into a new file named `name` and checks the byte count returned.
fn join_to(
    dir: &tempfile::TempDir,
    name: &str,
    format: AudioFormat,
    pieces: &[PathBuf],
) -> Result<PathBuf, AudioError> {
    let path = dir.path().join(name);
    let mut out = File::create(&path).unwrap();
    let joined = join(format, pieces, Duration::ZERO, Ends::Gapless, &mut out)?;
    assert_eq!(joined.bytes, std::fs::metadata(&path).unwrap().len());
    Ok(path)
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9, "{what}: {a} != {b}");
}

/// An APEv2 tag (header, no items, footer) as some taggers append.
fn ape_tag() -> Vec<u8> {
    let block = |flags: u32| {
        let mut b = b"APETAGEX".to_vec();
        b.extend_from_slice(&2000u32.to_le_bytes());
        b.extend_from_slice(&32u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b
    };
    let mut tag = block(0xA000_0000);
    tag.extend_from_slice(&block(0x8000_0000));
    tag
}

fn id3v1_tag() -> Vec<u8> {
    let mut tag = b"TAG".to_vec();
    tag.resize(128, b' ');
    tag[127] = 0xFF;
    tag
}

/// A synth mp3 whose first (Info) frame is replaced by a VBRI frame.
fn mp3_with_vbri(millis: u64) -> (Vec<u8>, f64) {
    let (mut bytes, seconds) = synth::audio("mp3", millis);
    let start = synth::id3v2_tag().len();
    let frame = &mut bytes[start..start + 192];
    frame[4..].fill(0);
    frame[36..40].copy_from_slice(b"VBRI");
    frame[40..42].copy_from_slice(&1u16.to_be_bytes());
    (bytes, seconds)
}

/// Bare MPEG-2 Layer III frames at 16 kHz mono (silent), a different stream from the synth's.
fn mp3_16khz(frames: usize) -> Vec<u8> {
    let mut frame = vec![0u8; 288];
    frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x88, 0xC0]);
    frame.repeat(frames)
}

#[test]
fn parses_frame_headers() {
    // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, stereo, unpadded and padded.
    let info = mp3::parse_header(&[0xFF, 0xFB, 0x90, 0x00]).unwrap();
    assert_eq!(
        (info.len, info.sample_rate, info.channels),
        (417, 44_100, 2)
    );
    assert_eq!(
        mp3::parse_header(&[0xFF, 0xFB, 0x92, 0x00]).unwrap().len,
        418
    );
    // The synth's MPEG-2, 64 kbit/s, 24 kHz mono.
    let info = mp3::parse_header(&[0xFF, 0xF3, 0x84, 0xC0]).unwrap();
    assert_eq!(
        (info.len, info.sample_rate, info.channels, info.side_info),
        (192, 24_000, 1, 9)
    );
    assert!(
        mp3::parse_header(&[0xFF, 0xF3, 0x04, 0xC0]).is_err(),
        "free format"
    );
    assert!(
        mp3::parse_header(&[0xFF, 0xF3, 0xF4, 0xC0]).is_err(),
        "bad bitrate"
    );
    assert!(
        mp3::parse_header(&[0xFF, 0xF3, 0x8C, 0xC0]).is_err(),
        "bad sample rate"
    );
    assert!(
        mp3::parse_header(&[0xFF, 0xEB, 0x84, 0xC0]).is_err(),
        "reserved version"
    );
    assert!(
        mp3::parse_header(&[0xFF, 0xF5, 0x84, 0xC0]).is_err(),
        "layer II"
    );
    assert!(mp3::parse_header(&[0xFF, 0xF3]).is_err(), "short");

    let (aac, _) = synth::audio("aac", 100);
    let info = adts::parse_header(&aac).unwrap();
    assert_eq!(
        (info.len, info.sample_rate, info.channels, info.profile),
        (11, 24_000, 1, 1)
    );
    let mut crc = aac.clone();
    crc[1] = 0xF0;
    assert!(adts::parse_header(&crc).is_err());
    let mut blocks = aac.clone();
    blocks[6] |= 1;
    assert!(adts::parse_header(&blocks).is_err());
}

#[test]
fn looks_like_each_format() {
    for format in AudioFormat::ALL {
        let (bytes, _) = synth::audio(format.as_str(), 500);
        assert!(looks_like(format, head(&bytes)), "{format}");
        // A head shorter than 64 bytes still matches when the body is that short.
        assert!(
            looks_like(format, &bytes[..bytes.len().min(12)]),
            "{format} short"
        );
    }
    let (wav, _) = synth::streamed_wav(100);
    assert!(looks_like(AudioFormat::Wav, head(&wav)));
    let (aac, _) = synth::audio("aac", 100);
    let mut tagged = synth::id3v2_tag();
    tagged.extend_from_slice(&aac);
    assert!(looks_like(AudioFormat::Aac, head(&tagged)));
    // MPEG-1 Layer III without a tag.
    assert!(looks_like(
        AudioFormat::Mp3,
        &[0xFF, 0xFB, 0x90, 0x64, 0, 0]
    ));
}

#[test]
fn looks_like_refuses_error_bodies_and_other_formats() {
    let bodies: [&[u8]; 7] = [
        JSON_ERROR,
        b"  \n{ \"error\": \"bad\" }",
        b"\xEF\xBB\xBF{\"detail\":\"Not Found\"}",
        HTML,
        b"<html><body>oops</body></html>",
        b"Internal Server Error",
        b"",
    ];
    for format in AudioFormat::ALL {
        for body in bodies {
            assert!(
                !looks_like(format, head(body)),
                "{format} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // Each tagless format's head is refused by the other non-pcm formats.
    for a in [AudioFormat::Opus, AudioFormat::Flac, AudioFormat::Wav] {
        let (bytes, _) = synth::audio(a.as_str(), 100);
        for b in AudioFormat::ALL {
            if b != a && b != AudioFormat::Pcm {
                assert!(!looks_like(b, head(&bytes)), "{a} as {b}");
            }
        }
    }
    let (aac, _) = synth::audio("aac", 100);
    assert!(!looks_like(AudioFormat::Mp3, head(&aac)));
    let (mp3, _) = synth::audio("mp3", 100);
    let bare = &mp3[synth::id3v2_tag().len()..];
    assert!(!looks_like(AudioFormat::Aac, head(bare)));
    // Invalid fields after a sync, a bad ID3 size, too-short heads.
    assert!(!looks_like(AudioFormat::Mp3, &[0xFF, 0xF3, 0xF4, 0xC0]));
    assert!(!looks_like(
        AudioFormat::Mp3,
        b"ID3\x04\x00\x00\x80\x00\x00\x00"
    ));
    assert!(!looks_like(AudioFormat::Mp3, &[0xFF]));
    assert!(!looks_like(AudioFormat::Wav, b"RIFF\x24\x00\x00\x00AVI "));
    let mut vorbis = synth::audio("opus", 100).0;
    vorbis[28..36].copy_from_slice(b"\x01vorbis\x00");
    assert!(!looks_like(AudioFormat::Opus, head(&vorbis)));
}

#[test]
fn measure_and_validate_match_the_synthesizer() {
    let dir = tempfile::tempdir().unwrap();
    for format in AudioFormat::ALL {
        for millis in [1, 250, 2_000] {
            let (path, seconds) = synth_file(&dir, &format!("m{millis}"), format, millis);
            assert_eq!(
                measure(format, &path).unwrap(),
                seconds,
                "{format} {millis} ms"
            );
            assert_eq!(
                validate(format, &path).unwrap(),
                seconds,
                "{format} {millis} ms"
            );
            assert_close(decode::decoded_seconds(&path).unwrap(), seconds, "decoded");
        }
    }
    let (bytes, seconds) = synth::streamed_wav(700);
    let path = write(&dir, "streamed.wav", &bytes);
    assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds);
    assert_eq!(validate(AudioFormat::Wav, &path).unwrap(), seconds);
    assert_close(
        decode::decoded_seconds(&path).unwrap(),
        seconds,
        "decoded streamed wav",
    );
}

#[test]
fn validating_frames_counts_what_symphonia_counts() {
    let dir = tempfile::tempdir().unwrap();
    for format in [AudioFormat::Mp3, AudioFormat::Aac] {
        let (pieces, _) = pieces_for(&dir, format, 3);
        let joined = join_to(&dir, &format!("joined.{format}"), format, &pieces).unwrap();
        for path in pieces.iter().chain([&joined]) {
            // measure: symphonia's demuxer; validate: the frame walk alone.
            assert_eq!(
                validate(format, path).unwrap(),
                measure(format, path).unwrap(),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn wav_sizes_and_chunks_are_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, seconds) = synth::audio("wav", 300);
    // ffmpeg's piped wav: a LIST chunk before data, both sizes 0xFFFFFFFF.
    let mut listed = bytes[..36].to_vec();
    listed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    listed.extend_from_slice(b"LIST\x1a\x00\x00\x00INFOISFT\x0e\x00\x00\x00Lavf59.27.100\x00");
    listed.extend_from_slice(b"data\xff\xff\xff\xff");
    listed.extend_from_slice(&bytes[44..]);
    // A data size larger than the file, and an odd-sized chunk with its pad byte.
    let mut oversized = bytes.clone();
    oversized[40..44].copy_from_slice(&10_000_000u32.to_le_bytes());
    let mut padded = bytes[..36].to_vec();
    padded.extend_from_slice(b"junk\x03\x00\x00\x00abc\x00");
    padded.extend_from_slice(&bytes[36..]);
    for (name, body) in [
        ("listed", &listed),
        ("oversized", &oversized),
        ("padded", &padded),
    ] {
        let path = write(&dir, &format!("{name}.wav"), body);
        assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds, "{name}");
        assert_eq!(
            validate(AudioFormat::Wav, &path).unwrap(),
            seconds,
            "{name}"
        );
    }
    // Trailing chunks after a data chunk of real size do not count as samples.
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
    let path = write(&dir, "trailing.wav", &trailing);
    assert_eq!(measure(AudioFormat::Wav, &path).unwrap(), seconds);
}

#[test]
fn validate_refuses_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    for format in AudioFormat::ALL {
        let empty = write(&dir, &format!("empty.{format}"), b"");
        assert!(
            matches!(validate(format, &empty), Err(AudioError::Empty { .. })),
            "{format}"
        );
        let json = write(&dir, &format!("json.{format}"), JSON_ERROR);
        let err = validate(format, &json).unwrap_err();
        assert!(
            matches!(err, AudioError::NotFormat { .. }),
            "{format}: {err}"
        );
        assert!(err.to_string().contains("JSON"), "{err}");
        assert!(err.to_string().contains(&format!("json.{format}")), "{err}");
        let html = write(&dir, &format!("html.{format}"), HTML);
        assert!(matches!(
            validate(format, &html),
            Err(AudioError::NotFormat { .. })
        ));
    }
    let damaged_cases: Vec<(AudioFormat, &str, Vec<u8>)> = {
        let mp3 = synth::audio("mp3", 1_000).0;
        let aac = synth::audio("aac", 1_000).0;
        let opus = synth::audio("opus", 3_000).0;
        let flac = synth::audio("flac", 1_000).0;
        let wav = synth::audio("wav", 100).0;
        // Streamed FLAC says nothing of its length: STREAMINFO's sample count is 0.
        let mut streamed_flac = flac.clone();
        streamed_flac[21] &= 0xF0;
        streamed_flac[22..26].fill(0);
        let mut junk_mp3 = mp3.clone();
        junk_mp3.splice(2_000..2_000, [0u8; 7]);
        let mut bad_crc = opus.clone();
        let last = bad_crc.len() - 1;
        bad_crc[last] ^= 1;
        // Cut at the end of the second audio page: whole pages, but no end-of-stream page.
        let second_page_end = 28 + 19 + 28 + 60 + 2 * (27 + 50 + 150);
        let mut no_data = wav[..36].to_vec();
        no_data.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
        let mut stereo_mid = mp3.clone();
        stereo_mid[synth::id3v2_tag().len() + 192 * 5 + 3] = 0x00;
        vec![
            (
                AudioFormat::Mp3,
                "cut mid-frame",
                mp3[..mp3.len() - 50].to_vec(),
            ),
            (
                AudioFormat::Mp3,
                "cut in a header",
                mp3[..mp3.len() - 190].to_vec(),
            ),
            (AudioFormat::Mp3, "junk between frames", junk_mp3),
            (AudioFormat::Mp3, "mode change mid-stream", stereo_mid),
            (
                AudioFormat::Mp3,
                "cut inside the ID3 tag",
                mp3[..20].to_vec(),
            ),
            (
                AudioFormat::Aac,
                "cut mid-frame",
                aac[..aac.len() - 3].to_vec(),
            ),
            (AudioFormat::Opus, "bad page CRC", bad_crc),
            (
                AudioFormat::Opus,
                "cut mid-page",
                opus[..opus.len() - 10].to_vec(),
            ),
            (
                AudioFormat::Opus,
                "no end of stream",
                opus[..second_page_end].to_vec(),
            ),
            (
                AudioFormat::Flac,
                "cut mid-frame",
                flac[..flac.len() - 1_000].to_vec(),
            ),
            (
                AudioFormat::Flac,
                "streamed, cut mid-frame",
                streamed_flac[..flac.len() - 1_000].to_vec(),
            ),
            (
                AudioFormat::Flac,
                "cut in the metadata",
                flac[..30].to_vec(),
            ),
            (AudioFormat::Wav, "no data chunk", no_data),
            (
                AudioFormat::Wav,
                "partial sample",
                wav[..wav.len() - 1].to_vec(),
            ),
            (AudioFormat::Pcm, "odd length", vec![0u8; 101]),
        ]
    };
    for (i, (format, what, bytes)) in damaged_cases.iter().enumerate() {
        let path = write(&dir, &format!("damaged{i}.{format}"), bytes);
        let result = validate(*format, &path);
        assert!(
            matches!(result, Err(AudioError::Damaged { .. })),
            "{format} {what}: {result:?}"
        );
    }
    // Whole but empty: only the tag and the Info frame.
    let mp3 = synth::audio("mp3", 100).0;
    let tags_only = write(&dir, "tags.mp3", &mp3[..synth::id3v2_tag().len() + 192]);
    assert!(matches!(
        validate(AudioFormat::Mp3, &tags_only),
        Err(AudioError::NoAudio { .. })
    ));
    assert_eq!(measure(AudioFormat::Mp3, &tags_only).unwrap(), 0.0);
    // A cut exactly between frames is not detectable, and measures what is there.
    let cut = write(&dir, "cut.mp3", &mp3[..mp3.len() - 192]);
    assert_close(
        validate(AudioFormat::Mp3, &cut).unwrap(),
        0.096 - 0.024,
        "cut mp3",
    );
}

#[test]
fn trailing_tags_and_vbri_are_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let (mp3, seconds) = synth::audio("mp3", 500);
    let mut tagged = mp3.clone();
    tagged.extend_from_slice(&ape_tag());
    tagged.extend_from_slice(&id3v1_tag());
    let path = write(&dir, "tagged.mp3", &tagged);
    assert_eq!(validate(AudioFormat::Mp3, &path).unwrap(), seconds);
    let (vbri, seconds) = mp3_with_vbri(500);
    let path = write(&dir, "vbri.mp3", &vbri);
    assert_eq!(validate(AudioFormat::Mp3, &path).unwrap(), seconds);
    assert_close(
        decode::decoded_seconds(&path).unwrap(),
        seconds,
        "decoded vbri",
    );
}

#[test]
fn joined_wav_over_4_gib_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (header, _) = synth::streamed_wav(1);
    let big = write(&dir, "big.wav", &header[..44]);
    // Sparse: 2.5 GiB of samples that take no disk space.
    File::options()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(44 + (5 << 29))
        .unwrap();
    let err = join_to(&dir, "huge.wav", AudioFormat::Wav, &[big.clone(), big]).unwrap_err();
    assert!(matches!(err, AudioError::TooLarge { .. }), "{err}");
    assert_eq!(
        std::fs::metadata(dir.path().join("huge.wav"))
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn the_test_decoder_catches_corrupt_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (mut mp3, _) = synth::audio("mp3", 500);
    let frame = synth::id3v2_tag().len() + 192 * 5;
    mp3[frame + 4..frame + 13].fill(0xFF);
    let path = write(&dir, "corrupt.mp3", &mp3);
    assert!(decode::decoded_seconds(&path).is_err());
    // symphonia skips a FLAC frame that fails its CRC; the gap must still show.
    let (mut flac, _) = synth::audio("flac", 500);
    flac[5_000] ^= 0xFF;
    let path = write(&dir, "corrupt.flac", &flac);
    assert!(decode::decoded_seconds(&path).is_err());
    assert!(matches!(
        validate(AudioFormat::Flac, &path),
        Err(AudioError::Damaged { .. })
    ));
}

/// Pieces of each joinable format with different lengths and different wrappings.
fn pieces_for(dir: &tempfile::TempDir, format: AudioFormat, count: usize) -> (Vec<PathBuf>, f64) {
    let mut paths = Vec::new();
    let mut total = 0.0;
    for i in 0..count {
        let millis = 150 + 230 * i as u64;
        let (mut bytes, _) = synth::audio(format.as_str(), millis);
        match (format, i % 3) {
            (AudioFormat::Mp3, 1) => {
                bytes.extend_from_slice(&ape_tag());
                bytes.extend_from_slice(&id3v1_tag());
            }
            (AudioFormat::Mp3, 2) => bytes = mp3_with_vbri(millis).0,
            (AudioFormat::Aac, 1) => {
                let mut tagged = synth::id3v2_tag();
                tagged.extend_from_slice(&bytes);
                tagged.extend_from_slice(&id3v1_tag());
                bytes = tagged;
            }
            (AudioFormat::Wav, 1) => bytes = synth::streamed_wav(millis).0,
            _ => {}
        }
        let path = write(dir, &format!("piece{i}.{format}"), &bytes);
        total += measure(format, &path).unwrap();
        paths.push(path);
    }
    (paths, total)
}

#[test]
fn joined_duration_is_the_sum_of_the_pieces() {
    let dir = tempfile::tempdir().unwrap();
    for format in JOINABLE {
        for count in [1, 2, 5] {
            let (pieces, total) = pieces_for(&dir, format, count);
            let joined =
                join_to(&dir, &format!("joined{count}.{format}"), format, &pieces).unwrap();
            let what = format!("{format} x{count}");
            // Ogg Opus keeps each later piece's pre-skip (312 samples at 48 kHz in the synth).
            let total = if format == AudioFormat::Opus {
                total + (count - 1) as f64 * 312.0 / 48_000.0
            } else {
                total
            };
            assert_close(measure(format, &joined).unwrap(), total, &what);
            assert_close(validate(format, &joined).unwrap(), total, &what);
            assert_close(decode::decoded_seconds(&joined).unwrap(), total, &what);
        }
    }
}

#[test]
fn joined_mp3_is_one_info_frame_and_audio_frames() {
    let dir = tempfile::tempdir().unwrap();
    let (pieces, total) = pieces_for(&dir, AudioFormat::Mp3, 3);
    let joined = join_to(&dir, "bare.mp3", AudioFormat::Mp3, &pieces).unwrap();
    let bytes = std::fs::read(&joined).unwrap();
    assert_eq!(bytes.len() % 192, 0);
    let frames = (total / 0.024).round() as usize;
    assert_eq!(bytes.len() / 192, frames + 1);
    for (i, frame) in bytes.chunks(192).enumerate() {
        assert_eq!(&frame[..4], &[0xFF, 0xF3, 0x84, 0xC0]);
        assert_eq!(
            mp3::is_tag_frame(frame, &mp3::parse_header(frame).unwrap()),
            i == 0
        );
    }
    assert_eq!(&bytes[13..17], b"Info");
    assert_eq!(
        u32::from_be_bytes(bytes[21..25].try_into().unwrap()) as usize,
        frames
    );
    // The synth's LAME tag names Lavc with a delay of 576 and no padding.
    assert_eq!(&bytes[133..137], b"Lavc");
    assert_eq!(&bytes[154..157], &[0x24, 0x00, 0x00]);
    assert!(!bytes.windows(3).any(|w| w == b"ID3" || w == b"TAG"));
}

#[test]
fn joined_wav_has_a_real_header() {
    let dir = tempfile::tempdir().unwrap();
    let (pieces, total) = pieces_for(&dir, AudioFormat::Wav, 2);
    let joined = join_to(&dir, "real.wav", AudioFormat::Wav, &pieces).unwrap();
    let bytes = std::fs::read(&joined).unwrap();
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let data = u32::from_le_bytes(bytes[40..44].try_into().unwrap());
    assert_eq!(riff as usize, bytes.len() - 8);
    assert_eq!(data as usize, bytes.len() - 44);
    assert_close(data as f64 / 2.0 / 24_000.0, total, "wav data");
}

#[test]
fn nothing_to_join_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for format in AudioFormat::ALL {
        let err = join_to(&dir, &format!("none.{format}"), format, &[]).unwrap_err();
        assert!(
            matches!(err, AudioError::CannotJoin { count: 0, .. }),
            "{err}"
        );
    }
}

#[test]
fn join_refuses_different_streams() {
    let dir = tempfile::tempdir().unwrap();
    let (mp3, _) = synth_file(&dir, "base", AudioFormat::Mp3, 300);
    let slow = write(&dir, "slow.mp3", &mp3_16khz(5));
    let mut stereo = std::fs::read(&mp3).unwrap();
    let start = synth::id3v2_tag().len();
    for frame in stereo[start..].chunks_mut(192) {
        frame[3] = 0x00;
    }
    let stereo = write(&dir, "stereo.mp3", &stereo);

    let (aac, _) = synth_file(&dir, "base", AudioFormat::Aac, 300);
    let mut other = std::fs::read(&aac).unwrap();
    for frame in other.chunks_mut(11) {
        frame[2] = (frame[2] & !0x3C) | (3 << 2); // 48 kHz
    }
    let other_aac = write(&dir, "other.aac", &other);

    let (wav, _) = synth_file(&dir, "base", AudioFormat::Wav, 300);
    let mut other = std::fs::read(&wav).unwrap();
    other[24..28].copy_from_slice(&16_000u32.to_le_bytes());
    let other_wav = write(&dir, "other.wav", &other);
    let mut float = std::fs::read(&wav).unwrap();
    float[20] = 3;
    let float_wav = write(&dir, "float.wav", &float);

    let cases = [
        (AudioFormat::Mp3, &mp3, &slow),
        (AudioFormat::Mp3, &mp3, &stereo),
        (AudioFormat::Mp3, &slow, &mp3),
        (AudioFormat::Aac, &aac, &other_aac),
        (AudioFormat::Wav, &wav, &other_wav),
        (AudioFormat::Wav, &wav, &float_wav),
    ];
    for (i, (format, a, b)) in cases.into_iter().enumerate() {
        let pieces = [a.clone(), a.clone(), b.clone()];
        let err = join_to(&dir, &format!("mixed{i}.{format}"), format, &pieces).unwrap_err();
        assert!(
            matches!(err, AudioError::Mismatch { .. }),
            "{format} case {i}: {err}"
        );
        assert!(err.to_string().contains(&b.display().to_string()), "{err}");
    }
}

#[test]
fn join_refuses_damaged_pieces() {
    let dir = tempfile::tempdir().unwrap();
    for format in JOINABLE {
        let (good, _) = synth_file(&dir, "good", format, 300);
        let bytes = std::fs::read(&good).unwrap();
        let bad = write(&dir, &format!("bad.{format}"), &bytes[..bytes.len() - 1]);
        let err = join_to(&dir, &format!("out.{format}"), format, &[good, bad]).unwrap_err();
        assert!(matches!(err, AudioError::Damaged { .. }), "{format}: {err}");
    }
    let missing = dir.path().join("missing.mp3");
    let err = join_to(&dir, "out2.mp3", AudioFormat::Mp3, &[missing]).unwrap_err();
    assert!(matches!(err, AudioError::Read { .. }), "{err}");
}

/// Runs everything on `bytes` as every format, as the only piece and next to a good one.
fn exercise(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    for format in AudioFormat::ALL {
        let path = write(&dir, &format!("x.{format}"), bytes);
        let _ = looks_like(format, head(bytes));
        let _ = validate(format, &path);
        let _ = measure(format, &path);
        let (good, _) = synth_file(&dir, "good", format, 40);
        for pieces in [
            vec![path.clone()],
            vec![good.clone(), path.clone()],
            vec![path, good],
        ] {
            let _ = join_to(&dir, &format!("out.{format}"), format, &pieces);
        }
    }
}

/// Headers that lead each parser past its first check.
fn prefixes() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"ID3\x04\x00\x00\x00\x00\x00\x10".to_vec(),
        vec![0xFF, 0xF3, 0x84, 0xC0],
        vec![0xFF, 0xFB, 0x90, 0x00],
        vec![0xFF, 0xF1, 0x58, 0x40],
        b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\xc0\x5d\x00\x00\x80\xbb\x00\x00\x02\x00\x10\x00data".to_vec(),
        b"RIFF\x00\x00\x00\x00WAVE".to_vec(),
        b"fLaC\x80\x00\x00\x22".to_vec(),
        b"OggS\x00\x02".to_vec(),
    ];
    for format in AudioFormat::ALL {
        let (bytes, _) = synth::audio(format.as_str(), 30);
        out.push(bytes[..bytes.len().min(80)].to_vec());
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in proptest::sample::select(prefixes()),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = prefix;
        bytes.extend_from_slice(&tail);
        exercise(&bytes);
    }

    #[test]
    fn damaged_audio_never_panics(
        format in proptest::sample::select(AudioFormat::ALL.to_vec()),
        millis in 1u64..200,
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<proptest::sample::Index>(),
    ) {
        let (mut bytes, _) = synth::audio(format.as_str(), millis);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        bytes.truncate(keep.max(bytes.len() / 2));
        exercise(&bytes);
    }
}
