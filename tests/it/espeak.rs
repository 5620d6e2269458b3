//! `--provider espeak`: the real `espeak-ng` program (installed by `.ci/run`), end to end in
//! every format it can write, lengths decoded by `ffmpeg` against `espeak-ng`'s own WAV of the
//! same text; voices checked before anything runs; the missing program; resume.

use std::process::{Command, Stdio};

use crate::support::probe::{ffmpeg_seconds, frame_seconds};
use crate::support::{Output, Workspace, assert_exit, item, wait_for};

const LINES: &str = "Alice was beginning to get very tired of sitting by her sister on the bank.\n\
-- So she was considering in her own mind, as well as she could, whether it was worth the trouble.\n";

/// `tts-batch ARGS` with no API key in the environment: espeak needs none.
fn run_offline(ws: &Workspace, args: &[&str]) -> Output {
    let out = ws
        .command(args)
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run tts-batch");
    Output::from(out)
}

/// The length of `espeak-ng`'s own WAV for `text` in `voice`, decoded the same way.
fn espeak_seconds(ws: &Workspace, text: &str, voice: &str) -> f64 {
    espeak_seconds_at(ws, text, voice, 175)
}

/// The same at `wpm` words a minute (`-s`; 175 is espeak-ng's own default).
fn espeak_seconds_at(ws: &Workspace, text: &str, voice: &str, wpm: u32) -> f64 {
    let wav = ws.path("espeak-own.wav");
    let mut child = Command::new("espeak-ng")
        .args([
            "-b",
            "1",
            "-v",
            voice,
            "-s",
            &wpm.to_string(),
            "--stdin",
            "-w",
        ])
        .arg(&wav)
        .stdin(Stdio::piped())
        .spawn()
        .expect("espeak-ng is installed");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write text");
    }
    assert!(child.wait().expect("espeak-ng ran").success());
    let seconds = ffmpeg_seconds(&wav);
    std::fs::remove_file(&wav).expect("remove the reference wav");
    seconds
}

#[test]
fn every_format_speaks_each_line_to_espeaks_own_length() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let texts: Vec<&str> = LINES.lines().collect();
    let expected: Vec<f64> = texts
        .iter()
        .map(|t| espeak_seconds(&ws, t, "en-us"))
        .collect();
    for format in ["mp3", "opus", "flac", "wav", "pcm"] {
        let out_dir = format!("out-{format}");
        let out = run_offline(
            &ws,
            &[
                "run",
                "lines.txt",
                "--provider",
                "espeak",
                "--voice",
                "en-us",
                "--audio-format",
                format,
                "-o",
                &out_dir,
            ],
        );
        assert_exit(&out, 0);
        let report = ws.report(&out_dir);
        assert_eq!(report["totals"]["done"], 2, "{format}");
        assert_eq!(report["totals"]["estimated_cost_usd"], 0.0, "{format}");
        assert_eq!(report["settings"]["provider"], "espeak", "{format}");
        assert_eq!(report["settings"]["model"], "espeak-ng", "{format}");
        for (n, want) in expected.iter().enumerate() {
            let key = format!("{:04}", n + 1);
            let file = ws.path(&out_dir).join(format!("{key}.{format}"));
            let got = ffmpeg_seconds(&file);
            assert!(
                (got - want).abs() <= frame_seconds(format),
                "{format} line {key}: decoded {got} s, espeak-ng's own WAV {want} s"
            );
            let reported = item(&report, &key)["audio_seconds"]
                .as_f64()
                .unwrap_or(-1.0);
            assert!(
                (reported - want).abs() <= frame_seconds(format) + 0.1,
                "{format} line {key}: report says {reported} s, espeak-ng {want} s"
            );
        }
    }
}

#[test]
fn pieces_of_a_long_item_join_to_the_sum_of_their_lengths() {
    let ws = Workspace::new();
    let text = "The rabbit hole went straight on like a tunnel for some way. Then it dipped suddenly down, so suddenly that Alice had not a moment to think about stopping herself. She found herself falling down a very deep well. Either the well was very deep, or she fell very slowly.";
    ws.write("long.txt", format!("{text}\n"));
    let pieces = tts_batch::chunk::split(text, 80);
    assert!(pieces.len() >= 3, "{pieces:?}");
    let expected: f64 = pieces.iter().map(|p| espeak_seconds(&ws, p, "en-us")).sum();
    for format in ["mp3", "wav", "pcm"] {
        let out_dir = format!("long-{format}");
        let out = run_offline(
            &ws,
            &[
                "run",
                "long.txt",
                "--provider",
                "espeak",
                "--max-chars",
                "80",
                "--audio-format",
                format,
                "-o",
                &out_dir,
            ],
        );
        assert_exit(&out, 0);
        assert_eq!(ws.report(&out_dir)["totals"]["requests"], pieces.len());
        let got = ffmpeg_seconds(&ws.path(&out_dir).join(format!("0001.{format}")));
        // Each MP3 piece keeps its encoder delay and padding inside the joined stream (at
        // most two frames); the other formats join sample for sample.
        let per_piece = if format == "mp3" {
            2.0 * 1152.0 / 22_050.0
        } else {
            frame_seconds(format)
        };
        let tolerance = per_piece * pieces.len() as f64 + frame_seconds(format);
        assert!(
            (got - expected).abs() <= tolerance,
            "{format}: joined {got} s, pieces {expected} s"
        );
    }
}

#[test]
fn a_chinese_line_speaks_in_mandarin() {
    let ws = Workspace::new();
    let corpus = std::fs::read_to_string(crate::support::corpus_path("chinese-novel.md"))
        .expect("the corpus beside the repository");
    let line = corpus
        .lines()
        .find(|l| l.chars().count() > 40 && !l.starts_with('#'))
        .expect("a line of prose");
    let line: String = line.chars().take(60).collect();
    ws.write("zh.txt", format!("{line}\n"));
    let out = run_offline(
        &ws,
        &[
            "run",
            "zh.txt",
            "--provider",
            "espeak",
            "--voice",
            "cmn",
            "--audio-format",
            "wav",
        ],
    );
    assert_exit(&out, 0);
    let report = ws.report("zh-audio");
    assert_eq!(report["settings"]["voice"], "cmn");
    let got = ffmpeg_seconds(&ws.path("zh-audio/0001.wav"));
    let want = espeak_seconds(&ws, &line, "cmn");
    // Sixty characters of Chinese take many seconds; read as English letters they would not.
    assert!(want > 5.0, "{want}");
    assert!(
        (got - want).abs() <= frame_seconds("wav"),
        "{got} vs {want}"
    );
}

#[test]
fn openai_voice_names_map_to_english_voices() {
    let ws = Workspace::new();
    ws.write(
        "voices.csv",
        "id,text,voice\nq1,Hello there.,nova\nq2,Hello there.,onyx\nq3,Hello there.,alloy\n",
    );
    let out = run_offline(&ws, &["run", "voices.csv", "--provider", "espeak"]);
    assert_exit(&out, 0);
    let report = ws.report("voices-audio");
    assert_eq!(report["totals"]["done"], 3);
    assert_eq!(report["settings"]["voice"], "en-us");
    // Three voices, three different recordings of the same words.
    let bytes: Vec<Vec<u8>> = ["q1", "q2", "q3"]
        .iter()
        .map(|k| std::fs::read(ws.path(&format!("voices-audio/{k}.mp3"))).expect("audio"))
        .collect();
    assert_ne!(bytes[0], bytes[1]);
    assert_ne!(bytes[1], bytes[2]);
}

#[test]
fn an_unknown_voice_is_bad_input_before_anything_runs() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let out = run_offline(
        &ws,
        &[
            "run",
            "lines.txt",
            "--provider",
            "espeak",
            "--voice",
            "en-uss",
        ],
    );
    assert_exit(&out, 2);
    assert!(out.stderr.contains("`en-uss`"), "{}", out.stderr);
    assert!(out.stderr.contains("did you mean"), "{}", out.stderr);
    assert!(!ws.path("lines-audio").exists());

    ws.write(
        "rows.csv",
        "id,text,voice\na,Hello.,en-gb\nb,Hello.,klingon-x\n",
    );
    let out = run_offline(&ws, &["run", "rows.csv", "--provider", "espeak"]);
    assert_exit(&out, 2);
    assert!(out.stderr.contains("line 3"), "{}", out.stderr);
    assert!(out.stderr.contains("`klingon-x`"), "{}", out.stderr);
    assert!(!ws.path("rows-audio").exists());

    let out = run_offline(
        &ws,
        &[
            "run",
            "lines.txt",
            "--provider",
            "espeak",
            "--audio-format",
            "aac",
        ],
    );
    assert_exit(&out, 2);
    assert!(
        out.stderr
            .contains("aac is not available with --provider espeak"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_missing_program_names_the_install_commands() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let empty = ws.path("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let out = ws
        .command(&["run", "lines.txt", "--provider", "espeak"])
        .env("PATH", &empty)
        .output()
        .expect("run tts-batch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for install in [
        "sudo apt-get install espeak-ng",
        "sudo dnf install espeak-ng",
        "brew install espeak-ng",
    ] {
        assert!(stderr.contains(install), "{stderr}");
    }
    assert!(!ws.path("lines-audio").exists());
}

#[test]
fn plan_needs_no_key_and_costs_nothing() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let out = run_offline(
        &ws,
        &[
            "plan",
            "lines.txt",
            "--provider",
            "espeak",
            "--model",
            "tts-1-hd",
        ],
    );
    assert_exit(&out, 0);
    assert!(
        out.stdout.contains("estimated cost: $0.00"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("--model"), "{}", out.stdout);
    assert!(!ws.path("lines-audio").exists());
}

#[test]
fn a_rerun_resumes_and_speaks_only_new_text() {
    let ws = Workspace::new();
    ws.write("lines.txt", LINES);
    let args = [
        "run",
        "lines.txt",
        "--provider",
        "espeak",
        "--audio-format",
        "wav",
    ];
    assert_exit(&run_offline(&ws, &args), 0);
    let first = std::fs::read(ws.path("lines-audio/0001.wav")).expect("audio");

    // Nothing new: nothing spoken again.
    assert_exit(&run_offline(&ws, &args), 0);
    assert_eq!(ws.report("lines-audio")["run"]["requests"], 0);

    // A new line: one piece spoken, the others kept as they were.
    ws.write("lines.txt", format!("{LINES}The end.\n"));
    assert_exit(&run_offline(&ws, &args), 0);
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
    let ws = Workspace::new();
    let lines: String = (1..=40)
        .map(|i| format!("This is line number {i} of the book.\n"))
        .collect();
    ws.write("book.txt", lines);
    let args = ["run", "book.txt", "--provider", "espeak", "-j", "1", "-q"];
    let mut child = ws
        .command(&args)
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

    let out = run_offline(&ws, &args);
    assert_exit(&out, 0);
    let report = ws.report("book-audio");
    assert_eq!(report["totals"]["done"], 40);
    // What the killed run finished is not spoken again (the piece in flight may be).
    let spoken_now = report["run"]["requests"].as_u64().unwrap_or(u64::MAX);
    assert!(
        spoken_now < 40,
        "{spoken_now} pieces spoken again after the kill"
    );
}

#[test]
fn an_epubs_language_picks_the_voice_unless_one_is_given() {
    let ws = Workspace::new();
    let mut book = crate::support::epub::TestBook::new("Le Livre").chapter(
        "c1.xhtml",
        "Premier chapitre",
        &["Alice commençait à se sentir très lasse de rester assise à côté de sa sœur."],
    );
    book.language = "fr-CA".into();
    ws.write("livre.epub", book.build());

    let out = run_offline(&ws, &["run", "livre.epub", "--provider", "espeak", "-q"]);
    assert_exit(&out, 0);
    let report = ws.report("livre-audio");
    assert_eq!(
        report["settings"]["voice"], "fr-fr",
        "French by the book's language"
    );
    assert!(ws.path("livre-audio/01-premier-chapitre.mp3").is_file());
    assert!(ffmpeg_seconds(&ws.path("livre-audio/01-premier-chapitre.mp3")) > 2.0);

    let given = run_offline(
        &ws,
        &[
            "plan",
            "livre.epub",
            "--provider",
            "espeak",
            "--voice",
            "en-gb",
        ],
    );
    assert_exit(&given, 0);
    assert!(given.stdout.contains("voice: en-gb"), "{}", given.stdout);
    let by_book = run_offline(&ws, &["plan", "livre.epub", "--provider", "espeak"]);
    assert!(
        by_book.stdout.contains("voice: fr-fr"),
        "{}",
        by_book.stdout
    );
}

#[test]
fn speed_scales_espeaks_rate() {
    let ws = Workspace::new();
    let text = LINES.lines().next().expect("a line");
    ws.write("one.txt", format!("{text}\n"));
    let mut seconds = Vec::new();
    for (speed, wpm) in [("1.0", 175), ("2.0", 350)] {
        let out_dir = format!("speed-{speed}");
        let out = run_offline(
            &ws,
            &[
                "run",
                "one.txt",
                "--provider",
                "espeak",
                "--audio-format",
                "wav",
                "--speed",
                speed,
                "-o",
                &out_dir,
            ],
        );
        assert_exit(&out, 0);
        let got = ffmpeg_seconds(&ws.path(&format!("{out_dir}/0001.wav")));
        let want = espeak_seconds_at(&ws, text, "en-us", wpm);
        assert!(
            (got - want).abs() <= frame_seconds("wav"),
            "--speed {speed}: {got} vs espeak-ng -s {wpm}: {want}"
        );
        seconds.push(got);
    }
    assert!(
        seconds[1] < seconds[0] * 0.7,
        "twice the speed, much shorter: {seconds:?}"
    );
}
