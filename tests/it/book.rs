//! Audiobook outputs end to end (SPEC §8): the book file (m4b with ffmpeg, mp3 in Rust) with a
//! chapter mark per item where its audio starts, tags and cover on every file, the playlist,
//! subtitles that cover the audio, and edits that rewrite only what they touch.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::SystemTime;

use crate::support::probe::{self, Info};
use crate::support::*;

const GAP: f64 = 2.0;

/// A small JPEG cover, as ffmpeg makes it.
fn cover(ws: &Workspace) -> String {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cover.jpg"))
        .expect("tests/data/cover.jpg");
    ws.write("cover.jpg", bytes);
    "cover.jpg".into()
}

/// The report's items: (title, output, audio seconds), in order.
fn items(ws: &Workspace, out: &str) -> Vec<(String, String, f64)> {
    ws.report(out)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["title"].as_str().unwrap_or_default().to_owned(),
                i["output"].as_str().expect("output").to_owned(),
                i["audio_seconds"].as_f64().expect("audio_seconds"),
            )
        })
        .collect()
}

/// Chapter marks: one per item, titled by it, each starting where the items before it and
/// their gaps end (within `slack` seconds per chapter before it: AAC adds its encoder's priming
/// and padding to every chapter and gap), and where the audio is: silence (the gap) just before
/// each mark, speech (the test server's tone) just after.
#[track_caller]
fn assert_chapters(path: &Path, book: &Info, items: &[(String, String, f64)], slack: f64) {
    assert_eq!(
        book.chapters.len(),
        items.len(),
        "one chapter mark per item"
    );
    let samples = probe::samples(path);
    for (i, ((title, start, _), item)) in book.chapters.iter().zip(items).enumerate() {
        // (A title page of a few characters is too short to look into.)
        if item.2 > 0.3 {
            let after = probe::rms(&samples, start + 0.1, start + item.2.min(0.5));
            assert!(
                after > 1000.0,
                "chapter {i} ({title}): no audio right after its mark ({after})"
            );
        }
        if i > 0 {
            let before = probe::rms(&samples, start - GAP + 0.3, start - 0.05);
            assert!(
                before < 50.0,
                "chapter {i} ({title}): no gap right before its mark ({before})"
            );
        }
    }
    let mut start = 0.0;
    for (i, ((title, start_s, end_s), (item_title, _, seconds))) in
        book.chapters.iter().zip(items).enumerate()
    {
        assert_eq!(title, item_title, "chapter {i} title");
        let tolerance = 0.002 + slack * (i as f64 + 1.0);
        assert!(
            (start_s - start).abs() <= tolerance,
            "chapter {i} ({title}) starts at {start_s}, expected {start} ± {tolerance}"
        );
        assert!(end_s > start_s, "chapter {i} ends after it starts");
        start += seconds + GAP;
    }
    let total = start - GAP;
    let tolerance = 0.002 + slack * (items.len() as f64 + 1.0);
    assert!(
        (book.duration - total).abs() <= tolerance,
        "book lasts {}, expected {total} ± {tolerance}",
        book.duration
    );
}

#[track_caller]
fn assert_tags(info: &Info, expected: &[(&str, &str)]) {
    for (key, value) in expected {
        assert_eq!(
            info.tags.get(*key).map(String::as_str),
            Some(*value),
            "tag {key}: {:?}",
            info.tags
        );
    }
}

/// Parses SRT or WebVTT cues into (start, end, text) seconds.
fn cues(path: &Path) -> Vec<(f64, f64, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stamp = |s: &str| {
        let s = s.trim().replace(',', ".");
        let parts: Vec<f64> = s
            .split(':')
            .map(|p| p.parse::<f64>().expect("a timestamp"))
            .collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some((a, b)) = line.split_once(" --> ") {
            let text = lines.get(i + 1).copied().unwrap_or_default().to_owned();
            out.push((stamp(a), stamp(b), text));
        }
    }
    out
}

/// Cues start at 0, follow each other without overlap and end where the audio ends.
#[track_caller]
fn assert_cues_cover(path: &Path, seconds: f64) {
    let cues = cues(path);
    assert!(!cues.is_empty(), "{}: no cues", path.display());
    assert_eq!(cues[0].0, 0.0, "{}: starts at 0", path.display());
    for w in cues.windows(2) {
        assert!(
            w[0].0 < w[0].1 && w[0].1 <= w[1].0 + 1e-9,
            "{}: {w:?}",
            path.display()
        );
    }
    let end = cues.last().map_or(0.0, |c| c.1);
    assert!(
        (end - seconds).abs() < 0.0015,
        "{}: cues end at {end}, audio at {seconds}",
        path.display()
    );
    assert!(cues.iter().all(|c| !c.2.trim().is_empty()));
}

#[test]
fn alice_becomes_an_m4b_with_chapters_tags_cover_subtitles_and_a_playlist() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    let cover = cover(&ws);
    let api = FakeApi::builder().ms_per_char(1).start();
    let out = ws.run_against(
        &api,
        "alice.md",
        &[
            "--book",
            "m4b",
            "--author",
            "Lewis Carroll",
            "--narrator",
            "Alloy",
            "--cover",
            &cover,
            "--subtitles",
            "vtt",
            "-j",
            "8",
        ],
    );
    assert_exit(&out, 0);
    let items = items(&ws, "alice-audio");
    assert_eq!(items.len(), 12);

    let book_path = ws.path("alice-audio/alice-s-adventures-in-wonderland.m4b");
    let book = probe::probe(&book_path);
    // AAC adds up to two frames (85 ms at 24 kHz) of priming and padding per chapter.
    assert_chapters(&book_path, &book, &items, 0.2);
    assert_eq!(book.chapters[0].0, "CHAPTER I. Down the Rabbit-Hole");
    assert_tags(
        &book,
        &[
            ("title", "Alice's Adventures in Wonderland"),
            ("album", "Alice's Adventures in Wonderland"),
            ("artist", "Lewis Carroll"),
            ("composer", "Alloy"),
            ("genre", "Audiobook"),
        ],
    );
    assert!(book.has_cover, "the book file has the cover");
    assert_cues_cover(&book_path.with_extension("vtt"), book.duration);

    // Every item file: tags, cover, its subtitles.
    for (n, (title, output, seconds)) in items.iter().enumerate() {
        let path = ws.path(&format!("alice-audio/{output}"));
        let info = probe::probe(&path);
        let track = format!("{}/12", n + 1);
        assert_tags(
            &info,
            &[
                ("title", title),
                ("album", "Alice's Adventures in Wonderland"),
                ("artist", "Lewis Carroll"),
                ("composer", "Alloy"),
                ("genre", "Audiobook"),
                ("track", &track),
            ],
        );
        assert!(info.has_cover, "{output}: cover");
        assert_seconds(decode::decoded_seconds(&path).unwrap(), *seconds);
        assert_cues_cover(&path.with_extension("vtt"), *seconds);
    }

    // The playlist: the item files in order, with lengths and titles, not the book.
    let playlist = std::fs::read_to_string(ws.path("alice-audio/playlist.m3u8")).unwrap();
    let mut expected = String::from("#EXTM3U\n");
    for (title, output, seconds) in &items {
        expected.push_str(&format!("#EXTINF:{},{title}\n{output}\n", seconds.round()));
    }
    assert_eq!(playlist, expected);
    // Nothing temporary left, and the chapter encodings are kept for the next build.
    assert!(
        ws.files().iter().all(|f| !f.ends_with(".tts-tmp")),
        "{:?}",
        ws.files()
    );
    assert_eq!(
        std::fs::read_dir(ws.path("alice-audio/tts-batch.book"))
            .unwrap()
            .count(),
        13,
        "twelve chapters and the gap"
    );
}

#[test]
fn the_rust_book_becomes_an_mp3_with_exact_chapter_marks() {
    let ws = Workspace::new();
    ws.corpus("rust-book-ch01-03.md");
    let api = FakeApi::builder().ms_per_char(1).start();
    let out = ws.run_against(
        &api,
        "rust-book-ch01-03.md",
        &[
            "--book",
            "mp3",
            "--author",
            "Steve Klabnik, Carol Nichols",
            "--subtitles",
            "srt",
        ],
    );
    assert_exit(&out, 0);
    let items = items(&ws, "rust-book-ch01-03-audio");
    assert_eq!(items.len(), 3);
    // No title heading above the chapters: the title is the manifest's name.
    let path = ws.path("rust-book-ch01-03-audio/rust-book-ch01-03.mp3");
    let book = probe::probe(&path);
    // MP3 chapter marks and lengths count whole frames of 24 ms: exact to the millisecond, with
    // each gap rounded to whole frames.
    assert_chapters(&path, &book, &items, 0.013);
    assert_eq!(book.chapters[1].0, "Programming a Guessing Game");
    assert_tags(
        &book,
        &[
            ("album", "rust-book-ch01-03"),
            ("artist", "Steve Klabnik, Carol Nichols"),
            ("genre", "Audiobook"),
        ],
    );
    // The Xing header states the decoded length (no "estimating duration from bitrate").
    let decoded = probe::decoded_seconds(&path);
    assert!(
        (decoded - book.duration).abs() < 0.002,
        "{decoded} vs {}",
        book.duration
    );
    assert_cues_cover(&path.with_extension("srt"), book.duration);
    for (_, output, seconds) in &items {
        assert_cues_cover(
            &ws.path(&format!("rust-book-ch01-03-audio/{output}"))
                .with_extension("srt"),
            *seconds,
        );
    }
}

#[test]
fn a_chinese_novel_gets_both_books_and_the_second_costs_no_request() {
    let ws = Workspace::new();
    ws.corpus("chinese-novel.md");
    let api = FakeApi::builder().ms_per_char(3).start();
    let out = ws.run_against(
        &api,
        "chinese-novel.md",
        &["--book", "m4b", "--chapter-gap-ms", "2000"],
    );
    assert_exit(&out, 0);
    let sent = api.count();
    let items = items(&ws, "chinese-novel-audio");
    assert_eq!(
        items.len(),
        6,
        "the title page (it has the author's line) and five chapters"
    );
    let m4b_path = ws.path("chinese-novel-audio/西遊記.m4b");
    let m4b = probe::probe(&m4b_path);
    assert_chapters(&m4b_path, &m4b, &items, 0.2);
    assert_eq!(m4b.chapters[0].0, "西遊記");
    assert_eq!(m4b.chapters[1].0, "第一回 靈根育孕源流出 心性修持大道生");
    assert_tags(&m4b, &[("title", "西遊記"), ("genre", "Audiobook")]);

    let out = ws.run_against(&api, "chinese-novel.md", &["--book", "mp3"]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), sent, "the audio is all there: nothing is sent");
    let mp3_path = ws.path("chinese-novel-audio/西遊記.mp3");
    let mp3 = probe::probe(&mp3_path);
    assert_chapters(&mp3_path, &mp3, &items, 0.013);
}

/// Modification time and bytes of every file the user sees in `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, (SystemTime, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().unwrap();
            (
                name,
                (meta.modified().unwrap(), std::fs::read(e.path()).unwrap()),
            )
        })
        .filter(|(name, _)| !name.starts_with("report.") && !name.starts_with("tts-batch.db"))
        .collect()
}

#[test]
fn a_paragraph_edit_costs_one_request_and_rewrites_that_chapter_and_the_book() {
    let ws = Workspace::new();
    let source = std::fs::read_to_string(corpus_path("alice.md")).unwrap();
    ws.write("alice.md", &source);
    let api = FakeApi::builder().ms_per_char(15).start();
    let flags = ["--book", "mp3", "--subtitles", "srt"];
    assert_exit(&ws.run_against(&api, "alice.md", &flags), 0);
    let before = snapshot(&ws.path("alice-audio"));
    let sent = api.count();

    // One word more in one paragraph of chapter V.
    let paragraph = "“Are you content now?” said the Caterpillar.";
    assert_eq!(source.matches(paragraph).count(), 1);
    ws.write(
        "alice.md",
        source.replace(
            paragraph,
            "“Are you quite content now?” said the Caterpillar.",
        ),
    );
    assert_exit(&ws.run_against(&api, "alice.md", &flags), 0);
    assert_eq!(
        api.count() - sent,
        1,
        "one request for the one piece that changed"
    );

    let after = snapshot(&ws.path("alice-audio"));
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    let changed: Vec<&String> = after.keys().filter(|k| before[*k] != after[*k]).collect();
    let mut expected = vec![
        "05-advice-from-a-caterpillar.mp3",
        "05-advice-from-a-caterpillar.srt",
        "alice-s-adventures-in-wonderland.mp3",
        "alice-s-adventures-in-wonderland.srt",
    ];
    // The playlist says the chapter's length in whole seconds: rewritten only if that changed.
    if before["playlist.m3u8"].1 != after["playlist.m3u8"].1 {
        expected.push("playlist.m3u8");
    }
    expected.sort();
    assert_eq!(changed, expected);
}

#[test]
fn without_ffmpeg_an_m4b_book_is_a_usage_error_before_any_request() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    let api = FakeApi::start();
    let empty = ws.path("no-tools");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ws
        .run_command(&api, "alice.md", &["--book", "m4b"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ffmpeg") && stderr.contains("apt-get install ffmpeg"),
        "{stderr}"
    );
    assert_eq!(api.count(), 0);
    assert!(!ws.path("alice-audio").exists(), "nothing written");
}

#[test]
fn a_bad_cover_is_a_usage_error_naming_the_file() {
    let ws = Workspace::new();
    ws.corpus("alice.md");
    ws.write("cover.png", b"<html>not a picture</html>");
    let api = FakeApi::start();
    let out = ws.run_against(&api, "alice.md", &["--cover", "cover.png"]);
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("cover.png") && out.stderr.contains("not a JPEG or PNG"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);
}
