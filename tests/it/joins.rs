//! Items of several pieces in every format: one file whose length, decoded by ffmpeg (not the
//! decoder the tool measures with), is the sum of its pieces and pauses within one frame per
//! piece, and whose container states its length.

use crate::support::decode::decoded_seconds;
use crate::support::playback::{ffmpeg_seconds, ffprobe_seconds, ffprobe_streams};
use crate::support::*;

/// Five sentences of 40 to 70 characters: with `--max-chars 80`, one piece each.
const TEXT: &str = "Alice was beginning to get very tired of sitting. \
    She had peeped into the book her sister was reading. \
    It had no pictures or conversations in it at all. \
    What is the use of a book, thought Alice, without pictures? \
    So she was considering in her own mind what to do.";

const FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

/// Seconds in one frame of the test server's audio in `format`.
fn frame_seconds(format: &str) -> f64 {
    match format {
        "mp3" => 576.0 / 24_000.0,
        "aac" => 1024.0 / 24_000.0,
        "opus" => 960.0 / 48_000.0,
        "flac" => 4096.0 / 24_000.0,
        _ => 1.0 / 24_000.0,
    }
}

/// What ffmpeg leaves out of a joined mp3 as the LAME tag tells it: the first piece's encoder
/// delay and the decoder's (576 + 529 samples for the test server's pieces).
fn played_less(format: &str) -> f64 {
    if format == "mp3" {
        1105.0 / 24_000.0
    } else {
        0.0
    }
}

/// Runs the one-line book in `format` with `--pause-ms pause_ms`; returns the workspace, the
/// API, and the seconds the API served for each piece, in order.
fn joined(format: &str, pause_ms: u64) -> (Workspace, FakeApi, Vec<f64>) {
    let ws = Workspace::new();
    ws.write("book.txt", format!("{TEXT}\n"));
    let api = FakeApi::start();
    let pause = pause_ms.to_string();
    let args = [
        "--audio-format",
        format,
        "--max-chars",
        "80",
        "--pause-ms",
        &pause,
        "-j",
        "1",
    ];
    let out = ws.run_against(&api, "book.txt", &args);
    assert_exit(&out, 0);
    let pieces: Vec<f64> = api
        .successes()
        .iter()
        .map(|r| r.audio_seconds.unwrap())
        .collect();
    assert_eq!(pieces.len(), 5, "{format}: one request per sentence");
    (ws, api, pieces)
}

#[test]
fn every_format_joins_to_the_sum_of_its_pieces_and_pauses() {
    for format in FORMATS {
        for pause_ms in [0u64, 400] {
            let (ws, _api, pieces) = joined(format, pause_ms);
            let what = format!("{format}, --pause-ms {pause_ms}");
            let file = ws.path(&format!("book-audio/0001.{format}"));
            let gaps = (pieces.len() - 1) as f64 * pause_ms as f64 / 1000.0;
            let sum = pieces.iter().sum::<f64>() + gaps;
            let frame = frame_seconds(format);
            let slack = frame * pieces.len() as f64;

            let report = ws.report("book-audio");
            let item = item(&report, "0001");
            assert_eq!(item["chunks"], 5, "{what}");
            assert_eq!(item["status"], "done", "{what}");
            let reported = item["audio_seconds"].as_f64().unwrap();
            assert!(
                (reported - sum).abs() <= slack,
                "{what}: report {reported}, pieces {sum}"
            );

            let played = ffmpeg_seconds(&file);
            assert!(
                (played + played_less(format) - sum).abs() <= slack,
                "{what}: ffmpeg plays {played}, pieces and pauses {sum}"
            );
            // Every container that states a length states the one played.
            match format {
                "mp3" | "flac" | "wav" => {
                    let stated = ffprobe_seconds(&file);
                    assert!((stated - reported).abs() < 1e-3, "{what}: ffprobe {stated}");
                }
                "opus" => {
                    // ffmpeg 5's ffprobe states the last granule position, the first pre-skip
                    // (312 samples) included.
                    let stated = ffprobe_seconds(&file);
                    assert!(
                        (stated - reported - 312.0 / 48_000.0).abs() < 1e-3,
                        "{what}: ffprobe {stated}"
                    );
                    assert_eq!(ffprobe_streams(&file), 1, "{what}: one logical stream");
                }
                // ADTS and raw pcm have no header to state a length in.
                _ => {}
            }
            if format != "pcm" {
                let decoded = decoded_seconds(&file).unwrap();
                assert!(
                    (decoded - reported).abs() < 1e-6,
                    "{what}: symphonia {decoded}"
                );
            }
        }
    }
}

#[test]
fn a_new_pause_rebuilds_the_file_without_a_request() {
    let (ws, api, pieces) = joined("mp3", 0);
    let file = ws.path("book-audio/0001.mp3");
    let before = ffmpeg_seconds(&file);
    let out = ws.run_against(
        &api,
        "book.txt",
        &["--max-chars", "80", "--pause-ms", "1000"],
    );
    assert_exit(&out, 0);
    assert_eq!(api.count(), pieces.len(), "no piece asked for again");
    let after = ffmpeg_seconds(&file);
    assert!(
        (after - before - 4.0).abs() <= frame_seconds("mp3"),
        "four pauses of a second: {before} then {after}"
    );
}

#[test]
fn a_pause_in_a_job_file_counts_like_the_flag() {
    let ws = Workspace::new();
    ws.write("book.txt", format!("{TEXT}\n"));
    let api = FakeApi::start();
    ws.write(
        "job.toml",
        format!(
            "input = \"book.txt\"\nbase-url = \"{}\"\nmax-chars = 80\npause-ms = 250\naudio-format = \"wav\"\n",
            api.base_url()
        ),
    );
    let out = ws.run(&["run", "job.toml", "--rpm", "6000"]);
    assert_exit(&out, 0);
    let served: f64 = api
        .successes()
        .iter()
        .map(|r| r.audio_seconds.unwrap())
        .sum();
    let played = ffmpeg_seconds(&ws.path("book-audio/0001.wav"));
    assert!(
        (played - served - 1.0).abs() < 1e-6,
        "{played} vs {served} + 4 × 0.25"
    );
}
