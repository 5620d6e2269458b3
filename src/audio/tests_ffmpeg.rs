//! Joins and their pauses checked with the `ffmpeg` program: a decoder and demuxer that is not the
//! one the code measures with, on pieces made by real encoders (libmp3lame, ffmpeg's aac,
//! flac, libopus) as a speech API makes them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::*;

// The test suite's ffprobe checks: what a player makes of a file. (Its `ffmpeg_seconds` is
// not used here: these tests decode with `ffmpeg_decode`, which also reports the peak.)
#[path = "../../tests/it/support/playback.rs"]
#[allow(dead_code)]
mod playback;
pub(super) use playback::ffprobe_seconds;
use playback::{ffprobe_streams, run};

/// A 24 kHz mono piece of `seconds` of a tone, encoded by ffmpeg as the API would send it.
pub(super) fn fixture(
    dir: &Path,
    name: &str,
    format: AudioFormat,
    seconds: f64,
    hz: u32,
) -> PathBuf {
    let path = dir.join(format!("{name}.{format}"));
    let source = format!("sine=f={hz}:d={seconds}:r=24000");
    let codec: &[&str] = match format {
        AudioFormat::Mp3 => &["-c:a", "libmp3lame", "-b:a", "64k"],
        AudioFormat::Aac => &["-c:a", "aac", "-f", "adts"],
        AudioFormat::Flac => &["-c:a", "flac"],
        AudioFormat::Opus => &["-c:a", "libopus"],
        AudioFormat::Wav => &["-c:a", "pcm_s16le"],
        AudioFormat::Pcm => &["-f", "s16le"],
    };
    run(Command::new("ffmpeg")
        .args([
            "-v", "error", "-y", "-f", "lavfi", "-i", &source, "-ac", "1",
        ])
        .args(codec)
        .arg(&path));
    path
}

/// What ffmpeg decodes: seconds (samples over the decoded rate) and the largest absolute
/// sample. Any decoding complaint fails the test.
pub(super) fn ffmpeg_decode(path: &Path, format: AudioFormat) -> (f64, i32) {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin"]);
    if format == AudioFormat::Pcm {
        cmd.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    cmd.arg("-i").arg(path);
    let rate = if format == AudioFormat::Opus {
        48_000
    } else {
        24_000
    };
    cmd.args(["-f", "s16le", "-ac", "1", "-ar", &rate.to_string(), "-"]);
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{}: ffmpeg says {stderr}",
        path.display()
    );
    let peak = out
        .stdout
        .chunks_exact(2)
        .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])).abs())
        .max()
        .unwrap_or(0);
    ((out.stdout.len() / 2) as f64 / f64::from(rate), peak)
}

/// Samples in one frame of the ffmpeg-made stream of `format`, and its rate.
fn frame(format: AudioFormat) -> f64 {
    match format {
        AudioFormat::Mp3 => 576.0 / 24_000.0,
        AudioFormat::Aac => 1024.0 / 24_000.0,
        AudioFormat::Opus => 960.0 / 48_000.0,
        AudioFormat::Flac => 4608.0 / 24_000.0,
        AudioFormat::Wav | AudioFormat::Pcm => 1.0 / 24_000.0,
    }
}

fn join_files(
    dir: &Path,
    name: &str,
    format: AudioFormat,
    pieces: &[PathBuf],
    pause: Duration,
) -> (PathBuf, Joined) {
    let path = dir.join(format!("{name}.{format}"));
    let mut out = File::create(&path).unwrap();
    let joined = join(format, pieces, pause, Ends::Gapless, &mut out).unwrap();
    assert_eq!(joined.bytes, std::fs::metadata(&path).unwrap().len());
    (path, joined)
}

/// Seconds ffmpeg trims from a joined mp3 as its LAME tag says: the first piece's encoder
/// delay and the decoder's (529 samples) at the start, the last piece's padding less the
/// decoder delay at the end.
fn mp3_trim(first: &Path, last: &Path) -> f64 {
    let (_, d) = mp3::first_audio_frame(first).unwrap();
    let (_, p) = mp3::first_audio_frame(last).unwrap();
    let delay = d.map_or(0, |d| d.0);
    let padding = p.map_or(0, |p| p.1);
    f64::from(delay + 529 + padding.saturating_sub(529)) / 24_000.0
}

#[test]
fn joins_decode_to_the_sum_of_their_pieces_in_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let lengths = [1.3, 0.45, 2.07];
    for format in AudioFormat::ALL {
        let pieces: Vec<PathBuf> = lengths
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                fixture(
                    dir.path(),
                    &format!("p{i}"),
                    format,
                    s,
                    300 + 100 * i as u32,
                )
            })
            .collect();
        let measured: Vec<f64> = pieces
            .iter()
            .map(|p| validate(format, p).unwrap())
            .collect();
        let decoded: Vec<f64> = pieces.iter().map(|p| ffmpeg_decode(p, format).0).collect();
        for pause_ms in [0u64, 350] {
            let pause = Duration::from_millis(pause_ms);
            let name = format!("joined{pause_ms}");
            let (path, joined) = join_files(dir.path(), &name, format, &pieces, pause);
            let gaps = pause.as_secs_f64() * (pieces.len() - 1) as f64;
            let sum = measured.iter().sum::<f64>() + gaps;
            let what = format!("{format} pause {pause_ms} ms");
            // Our own measure: exactly the pieces and the pauses (pauses to a whole frame); Ogg
            // Opus also keeps later pieces' pre-skip and earlier pieces' end trimming.
            let slack = if format == AudioFormat::Opus {
                pieces.len() as f64
            } else {
                1.0
            };
            assert!(
                (joined.seconds - sum).abs() <= frame(format) * slack,
                "{what}: {} vs {sum}",
                joined.seconds
            );
            assert_eq!(validate(format, &path).unwrap(), joined.seconds, "{what}");
            // Piece starts: after the pieces and pauses before them.
            for (i, start) in joined.starts.iter().enumerate() {
                let before = measured[..i].iter().sum::<f64>() + pause.as_secs_f64() * i as f64;
                assert!(
                    (start - before).abs() <= frame(format) * slack,
                    "{what}: start {i}"
                );
            }
            // ffmpeg: the same within one frame per piece.
            let (played, _) = ffmpeg_decode(&path, format);
            let trim = match format {
                AudioFormat::Mp3 => mp3_trim(&pieces[0], &pieces[2]),
                _ => 0.0,
            };
            let tolerance = frame(format) * pieces.len() as f64 + 1e-9;
            assert!(
                (played - (joined.seconds - trim)).abs() <= 1e-6,
                "{what}: ffmpeg plays {played}, measured {} less trim {trim}",
                joined.seconds
            );
            assert!(
                (played + trim - sum).abs() <= tolerance,
                "{what}: ffmpeg {played} vs {sum}"
            );
            eprintln!(
                "{what}: pieces measured {:.4} decoded alone {:.4} (+ pauses {gaps:.3}); joined measured {:.4}, ffmpeg decodes {played:.4}",
                measured.iter().sum::<f64>(),
                decoded.iter().sum::<f64>(),
                joined.seconds
            );
            // Every container that states a length states the true one.
            match format {
                AudioFormat::Mp3 | AudioFormat::Flac | AudioFormat::Wav => {
                    let stated = ffprobe_seconds(&path);
                    assert!(
                        (stated - joined.seconds).abs() < 1e-3,
                        "{what}: ffprobe {stated}"
                    );
                }
                AudioFormat::Opus => {
                    // ffmpeg 5.1's ffprobe states the last granule position, pre-skip included.
                    let stated = ffprobe_seconds(&path);
                    assert!(
                        (stated - joined.seconds - 312.0 / 48_000.0).abs() < 1e-3,
                        "{what}: ffprobe {stated}"
                    );
                    assert_eq!(ffprobe_streams(&path), 1, "{what}: one logical stream");
                }
                // ADTS and raw pcm state no length.
                AudioFormat::Aac | AudioFormat::Pcm => {}
            }
        }
    }
}

#[test]
fn pauses_are_silent_in_the_joined_stream() {
    let dir = tempfile::tempdir().unwrap();
    for format in AudioFormat::ALL {
        let piece = fixture(dir.path(), "tone", format, 0.4, 440);
        let (path, joined) = join_files(
            dir.path(),
            "paused",
            format,
            &[piece.clone(), piece],
            Duration::from_millis(1_000),
        );
        // Decode the middle of the pause: nothing but zeros.
        let from = joined.starts[1] - 0.7;
        let out = run(Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin"])
            .args(if format == AudioFormat::Pcm {
                vec!["-f", "s16le", "-ar", "24000", "-ac", "1"]
            } else {
                vec![]
            })
            .arg("-i")
            .arg(&path)
            .args([
                "-ss",
                &format!("{from:.3}"),
                "-t",
                "0.4",
                "-f",
                "s16le",
                "-ac",
                "1",
                "-",
            ]));
        let peak = out
            .stdout
            .chunks_exact(2)
            .map(|s| i32::from(i16::from_le_bytes([s[0], s[1]])).abs())
            .max()
            .unwrap_or(0);
        assert!(out.stdout.len() > 1000, "{format}");
        assert_eq!(peak, 0, "{format}: the pause is not silent");
    }
}

#[test]
fn joined_mp3_states_frames_bytes_and_gapless_fields() {
    let dir = tempfile::tempdir().unwrap();
    let a = fixture(dir.path(), "a", AudioFormat::Mp3, 1.0, 440);
    let b = fixture(dir.path(), "b", AudioFormat::Mp3, 0.61, 550);
    let (_, da) = mp3::first_audio_frame(&a).unwrap();
    let (_, db) = mp3::first_audio_frame(&b).unwrap();
    let (path, joined) = join_files(
        dir.path(),
        "ab",
        AudioFormat::Mp3,
        &[a, b],
        Duration::from_millis(250),
    );
    let bytes = std::fs::read(&path).unwrap();
    let info = mp3::parse_header(&bytes).unwrap();
    // The Info frame: after zeroed side info (9 bytes for MPEG-2 mono).
    assert_eq!(
        &bytes[13..17],
        b"Info",
        "CBR pieces and CBR silence make an Info frame"
    );
    let frames = u32::from_be_bytes(bytes[21..25].try_into().unwrap());
    let stated_bytes = u32::from_be_bytes(bytes[25..29].try_into().unwrap());
    assert_eq!(f64::from(frames) * 576.0 / 24_000.0, joined.seconds);
    assert_eq!(stated_bytes as usize, bytes.len());
    assert_eq!(
        (bytes.len() - info.len) % 192,
        0,
        "64 kbit/s frames after the Info frame"
    );
    let lame = &bytes[13 + 120..13 + 120 + 36];
    assert!(
        lame.starts_with(b"Lavc") || lame.starts_with(b"LAME"),
        "{:?}",
        &lame[..9]
    );
    let trim = u32::from_be_bytes([0, lame[21], lame[22], lame[23]]);
    assert_eq!(
        trim >> 12,
        u32::from(da.unwrap().0),
        "delay of the first piece"
    );
    assert_eq!(
        trim & 0xFFF,
        u32::from(db.unwrap().1),
        "padding of the last piece"
    );
    // VBR: pieces of different bitrates make a Xing frame.
    let c = dir.path().join("c.mp3");
    run(Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=f=300:d=0.5:r=24000",
            "-ac",
            "1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "32k",
        ])
        .arg(&c));
    let a = dir.path().join("a.mp3");
    let (path, joined) = join_files(dir.path(), "ac", AudioFormat::Mp3, &[a, c], Duration::ZERO);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[13..17], b"Xing");
    assert!((ffprobe_seconds(&path) - joined.seconds).abs() < 1e-3);
}

#[test]
fn joined_flac_is_one_stream_with_true_streaminfo() {
    let dir = tempfile::tempdir().unwrap();
    let pieces: Vec<PathBuf> = [0.9, 0.33, 1.21]
        .iter()
        .enumerate()
        .map(|(i, &s)| fixture(dir.path(), &format!("f{i}"), AudioFormat::Flac, s, 440))
        .collect();
    let (path, joined) = join_files(
        dir.path(),
        "joined",
        AudioFormat::Flac,
        &pieces,
        Duration::from_millis(123),
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..4], b"fLaC");
    let info: [u8; 34] = bytes[8..42].try_into().unwrap();
    let total = (u64::from(info[13] & 0x0F) << 32)
        | u64::from(u32::from_be_bytes(info[14..18].try_into().unwrap()));
    assert_eq!(total as f64 / 24_000.0, joined.seconds);
    assert_eq!(&info[18..], &[0; 16], "MD5 unknown");
    // Lossless: the decoded samples are the pieces' and the pause's, in order.
    let pcm = |p: &Path| {
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-f", "s16le", "-"]))
        .stdout
    };
    let mut expected = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            expected.extend(std::iter::repeat_n(0u8, 2 * 2952));
        }
        expected.extend(pcm(piece));
    }
    assert!(
        pcm(&path) == expected,
        "joined samples differ from the pieces'"
    );
}
