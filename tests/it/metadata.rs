//! Library-ready audiobooks (SPEC §8): the book's metadata from an EPUB, Markdown front matter
//! or flags, in every file's tags where Audiobookshelf and ffprobe find them, in sidecar files
//! beside the audio, and tags that follow the settings: a run after only tag settings changed
//! retags every file in place, with no request and the same audio.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::support::*;
use crate::support::{playback, probe};

const DESCRIPTION: &str =
    "A London lawyer looks into a strange link.\n\nA second paragraph & more.";

/// Jekyll and Hyde with an EPUB 3 series (number 3) and a calibre-style HTML description in
/// place of its own.
fn jekyll_with_series(ws: &Workspace) -> Vec<u8> {
    let bytes = std::fs::read(corpus_path("jekyll-hyde.epub")).expect("corpus epub");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("zip");
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("entry");
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read entry");
        let name = entry.name().expect("entry name").to_string();
        if name.ends_with("content.opf") {
            let text = String::from_utf8(data).expect("utf-8 opf");
            let start = text.find("<dc:description").expect("description");
            let end = text[start..].find("</dc:description>").expect("end") + start;
            let html = "&lt;p&gt;A London lawyer looks into a &lt;i&gt;strange&lt;/i&gt; link.&lt;/p&gt;&lt;p&gt;A second paragraph &amp;amp; more.&lt;/p&gt;";
            let text = format!(
                "{}<dc:description id=\"description\">{html}{}",
                &text[..start],
                &text[end..]
            )
            .replace(
                "</metadata>",
                "<meta id=\"series\" property=\"belongs-to-collection\">Stevenson’s Strange Cases</meta>\n<meta property=\"collection-type\" refines=\"#series\">series</meta>\n<meta property=\"group-position\" refines=\"#series\">3</meta>\n</metadata>",
            );
            data = text.into_bytes();
        }
        files.push((name, data));
    }
    let epub = epub::zip(&files);
    ws.write("jekyll.epub", &epub);
    epub
}

/// The EPUB's cover image.
fn epub_cover(epub: &[u8]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(epub.to_vec())).expect("zip");
    let mut entry = archive.by_name("epub/images/cover.jpg").expect("cover");
    let mut data = Vec::new();
    entry.read_to_end(&mut data).expect("read cover");
    data
}

/// The tags Audiobookshelf reads: the container's own, or (Ogg, which keeps its comments in
/// the stream, where Audiobookshelf looks when the container has none) the audio stream's.
fn tags_of(path: &Path) -> HashMap<String, String> {
    let format = probe::format_tags(path);
    if format.is_empty() {
        probe::probe(path).tags
    } else {
        format
    }
}

#[track_caller]
fn assert_fields(tags: &HashMap<String, String>, expected: &[(&str, &str)], what: &str) {
    for (key, value) in expected {
        let got = match *key {
            // Audiobookshelf takes the description, else the comment.
            "description" => tags.get("description").or(tags.get("comment")),
            _ => tags.get(*key),
        };
        assert_eq!(
            got.map(String::as_str),
            Some(*value),
            "{what}: {key} in {tags:?}"
        );
    }
}

/// A Dublin Core element of the OPF sidecar: its name, its role or scheme, its text.
type DcField = (String, Option<String>, String);

/// The OPF sidecar's Dublin Core fields and its metas (name, content).
fn opf_fields(path: &Path) -> (Vec<DcField>, Vec<(String, String)>) {
    let text = std::fs::read_to_string(path).expect("metadata.opf");
    let doc = roxmltree::Document::parse(&text).expect("metadata.opf is XML");
    let opf = "http://www.idpf.org/2007/opf";
    let dc = doc
        .descendants()
        .filter(|n| n.tag_name().namespace() == Some("http://purl.org/dc/elements/1.1/"))
        .map(|n| {
            (
                n.tag_name().name().to_owned(),
                n.attribute((opf, "role"))
                    .or(n.attribute((opf, "scheme")))
                    .map(str::to_owned),
                n.text().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let metas = doc
        .descendants()
        .filter(|n| n.has_tag_name((opf, "meta")))
        .map(|n| {
            (
                n.attribute("name").unwrap_or_default().to_owned(),
                n.attribute("content").unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (dc, metas)
}

#[test]
fn jekyll_and_hyde_with_a_series_lands_in_a_library_as_it_is() {
    let ws = Workspace::new();
    let epub = jekyll_with_series(&ws);
    let plan = ws.run(&["plan", "jekyll.epub", "--narrator", "Ann Reader"]);
    assert_exit(&plan, 0);
    for line in [
        "  narrator: Ann Reader",
        "  series: Stevenson’s Strange Cases #3",
        "  publisher: Standard Ebooks",
        "  description: A London lawyer looks into a strange link. A second paragraph & more.",
    ] {
        assert!(plan.stdout.contains(line), "{line} in\n{}", plan.stdout);
    }

    let api = FakeApi::builder().ms_per_char(13).start();
    let out = ws.run_against(
        &api,
        "jekyll.epub",
        &["--book", "m4b", "--narrator", "Ann Reader", "-j", "8"],
    );
    assert_exit(&out, 0);
    let title = "The Strange Case of Dr. Jekyll and Mr. Hyde";
    let expected = [
        ("album", title),
        ("artist", "Robert Louis Stevenson"),
        ("album_artist", "Robert Louis Stevenson"),
        ("composer", "Ann Reader"),
        ("description", DESCRIPTION),
        ("series", "Stevenson’s Strange Cases"),
        ("series-part", "3"),
        ("grouping", "Stevenson’s Strange Cases #3"),
        ("publisher", "Standard Ebooks"),
        ("date", "2015"),
        ("genre", "Audiobook"),
        ("language", "en-GB"),
    ];
    let dir = ws.path("jekyll-audio");
    let m4b = dir.join("the-strange-case-of-dr-jekyll-and-mr-hyde.m4b");
    let tags = probe::format_tags(&m4b);
    assert_fields(&tags, &expected, "m4b");
    assert_eq!(tags.get("title").map(String::as_str), Some(title));
    assert!(probe::probe(&m4b).has_cover);
    assert_eq!(probe::probe(&m4b).chapters.len(), 10);
    let report = ws.report("jekyll-audio");
    for item in report["items"].as_array().expect("items") {
        let file = dir.join(item["output"].as_str().expect("output"));
        let tags = probe::format_tags(&file);
        assert_fields(&tags, &expected, &file.display().to_string());
        assert_eq!(
            tags.get("title"),
            item["title"].as_str().map(str::to_owned).as_ref()
        );
    }

    // Sidecars, as Audiobookshelf reads them.
    assert_eq!(
        std::fs::read(dir.join("cover.jpg")).expect("cover.jpg"),
        epub_cover(&epub)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("desc.txt")).expect("desc.txt"),
        format!("{DESCRIPTION}\n")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("reader.txt")).expect("reader.txt"),
        "Ann Reader\n"
    );
    let (dc, metas) = opf_fields(&dir.join("metadata.opf"));
    let has = |name: &str, attr: Option<&str>, text: &str| {
        dc.iter()
            .any(|(n, a, t)| n == name && a.as_deref() == attr && t == text)
    };
    assert!(has("title", None, title), "{dc:?}");
    assert!(
        has("creator", Some("aut"), "Robert Louis Stevenson"),
        "{dc:?}"
    );
    assert!(has("creator", Some("nrt"), "Ann Reader"), "{dc:?}");
    assert!(has("description", None, DESCRIPTION), "{dc:?}");
    assert!(has("language", None, "en-GB"), "{dc:?}");
    assert!(has("publisher", None, "Standard Ebooks"), "{dc:?}");
    assert!(has("date", None, "2015-05-12T00:01:00Z"), "{dc:?}");
    assert!(
        dc.iter()
            .any(|(n, _, t)| n == "identifier" && t.contains("standardebooks.org")),
        "{dc:?}"
    );
    assert_eq!(
        metas,
        [
            (
                "calibre:series".to_owned(),
                "Stevenson’s Strange Cases".to_owned()
            ),
            ("calibre:series_index".to_owned(), "3".to_owned())
        ]
    );
    // No temporary file is left beside them.
    assert!(
        ws.files().iter().all(|f| !f.contains(".tts-tmp")),
        "{:?}",
        ws.files()
    );
}

/// A Markdown book whose front matter says everything, with a PNG cover beside it.
fn front_matter_book(ws: &Workspace) {
    let png = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cover.png"))
        .expect("tests/data/cover.png");
    ws.write("art/cover.png", png);
    ws.write(
        "saga.md",
        "---\ntitle: The Little Saga\nauthor:\n  - Ada Writer\n  - Bo Writer\nnarrator: Cy Reader\nseries: Little Sagas\nseries_index: 2\ndescription: |\n  The second little saga.\n\n  It has two paragraphs.\nlanguage: en\ncover: art/cover.png\nlayout: book\n---\n\n# The Little Saga\n\n## One\n\nThe first chapter is short.\n\n## Two\n\nThe second chapter is short too.\n\n## Three\n\nThe last chapter ends it.\n",
    );
}

const SAGA: [(&str, &str); 9] = [
    ("album", "The Little Saga"),
    ("artist", "Ada Writer, Bo Writer"),
    ("composer", "Cy Reader"),
    (
        "description",
        "The second little saga.\n\nIt has two paragraphs.",
    ),
    ("series", "Little Sagas"),
    ("series-part", "2"),
    ("grouping", "Little Sagas #2"),
    ("language", "en"),
    ("genre", "Audiobook"),
];

#[test]
fn a_markdown_books_front_matter_tags_every_format_and_is_not_read_aloud() {
    let ws = Workspace::new();
    front_matter_book(&ws);
    let api = FakeApi::builder().ms_per_char(20).start();
    for (format, book) in [
        ("mp3", Some("mp3")),
        ("aac", None),
        ("wav", None),
        ("flac", None),
        ("opus", Some("m4b")),
    ] {
        let out_dir = format!("out-{format}");
        let mut args = vec!["--audio-format", format, "-o", &out_dir];
        if let Some(book) = book {
            args.extend(["--book", book]);
        }
        let out = ws.run_against(&api, "saga.md", &args);
        assert_exit(&out, 0);
        let report = ws.report(&out_dir);
        let items = report["items"].as_array().expect("items");
        assert_eq!(items.len(), 3, "{format}: three chapters");
        for (i, item) in items.iter().enumerate() {
            let file = ws
                .path(&out_dir)
                .join(item["output"].as_str().expect("output"));
            let info = probe::probe(&file);
            assert_fields(&tags_of(&file), &SAGA, &file.display().to_string());
            let track = info.tags.get("track").cloned().unwrap_or_default();
            assert!(
                track == format!("{}/3", i + 1) || track == (i + 1).to_string(),
                "{format}: track {track}"
            );
            if format != "wav" {
                assert!(info.has_cover, "{format}: cover");
            }
        }
        if let Some(book) = book {
            let path = ws.path(&out_dir).join(format!("the-little-saga.{book}"));
            let info = probe::probe(&path);
            assert_fields(&probe::format_tags(&path), &SAGA, book);
            assert!(info.has_cover, "{book}: cover");
            assert_eq!(info.chapters.len(), 3, "{book}");
        }
        assert!(ws.path(&out_dir).join("cover.png").is_file(), "{format}");
        assert_eq!(
            std::fs::read_to_string(ws.path(&out_dir).join("reader.txt")).expect("reader.txt"),
            "Cy Reader\n"
        );
    }
    // The front matter is never sent: only the chapters' text is.
    for request in api.requests() {
        assert!(
            !request.input.contains("series") && !request.input.contains("layout"),
            "{}",
            request.input
        );
    }
}

#[test]
fn flags_and_job_keys_override_the_front_matter() {
    let ws = Workspace::new();
    front_matter_book(&ws);
    ws.write("blurb.txt", "From a file.\n");
    let api = FakeApi::builder().ms_per_char(20).start();
    let out = ws.run_against(
        &api,
        "saga.md",
        &[
            "--series",
            "Other Sagas",
            "--series-index",
            "4.50",
            "--description",
            "@blurb.txt",
            "--publisher",
            "Small Press",
            "--year",
            "1999",
        ],
    );
    assert_exit(&out, 0);
    let file = ws.path("saga-audio/01-one.mp3");
    let tags = probe::format_tags(&file);
    assert_fields(
        &tags,
        &[
            ("series", "Other Sagas"),
            ("series-part", "4.5"),
            ("grouping", "Other Sagas #4.5"),
            ("description", "From a file."),
            ("publisher", "Small Press"),
            ("date", "1999"),
            ("composer", "Cy Reader"),
        ],
        "flags",
    );
    // The same from a job file, its @FILE relative to the job file's folder.
    ws.write("jobs/blurb.txt", "From the job's folder.");
    ws.write(
        "jobs/saga.toml",
        "input = \"../saga.md\"\nout = \"../job-out\"\nseries = \"Job Sagas\"\nseries-index = 7\ndescription = \"@blurb.txt\"\nno-sidecars = true\n",
    );
    let out = ws.run_against(&api, "jobs/saga.toml", &[]);
    assert_exit(&out, 0);
    let tags = probe::format_tags(&ws.path("job-out/01-one.mp3"));
    assert_fields(
        &tags,
        &[
            ("series", "Job Sagas"),
            ("series-part", "7"),
            ("description", "From the job's folder."),
        ],
        "job file",
    );
    // `no-sidecars`: none of them.
    for name in ["cover.png", "desc.txt", "reader.txt", "metadata.opf"] {
        assert!(!ws.path("job-out").join(name).exists(), "{name}");
    }
}

#[test]
fn bad_metadata_is_refused_naming_the_value_file_or_line() {
    let ws = Workspace::new();
    front_matter_book(&ws);
    refused(
        &ws,
        &["run", "saga.md", "--series-index", "second"],
        "--series-index: `second`",
    );
    refused(
        &ws,
        &["run", "saga.md", "--description", "@missing.txt"],
        "missing.txt",
    );
    refused(&ws, &["run", "saga.md", "--year", "0"], "--year");
    ws.write(
        "broken.md",
        "---\ntitle: ok\nauthor: [unclosed\n---\n\n# One\n\nText.\n",
    );
    refused(&ws, &["run", "broken.md"], "broken.md: line");
    ws.write(
        "nocover.md",
        "---\ntitle: ok\ncover: none.png\n---\n\n# One\n\nText.\n",
    );
    refused(&ws, &["run", "nocover.md"], "nocover.md: line 3: cover");
}

/// Every audio file of an output folder: its name, its audio's hash and its number of streams
/// (the audio, the cover, the M4B's chapter track).
fn audio_hashes(dir: &Path) -> Vec<(String, String, usize)> {
    let mut files: Vec<(String, String, usize)> = std::fs::read_dir(dir)
        .expect("out dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| {
                ["mp3", "opus", "flac", "m4b"].contains(&e.to_string_lossy().as_ref())
            })
        })
        .map(|p| {
            (
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                probe::audio_hash(&p),
                playback::ffprobe_streams(&p),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn changing_the_author_retags_every_file_in_place_without_a_request() {
    let ws = Workspace::new();
    front_matter_book(&ws);
    let api = FakeApi::builder().ms_per_char(20).start();
    for (format, book) in [("mp3", "mp3"), ("opus", "m4b"), ("flac", "m4b")] {
        let out_dir = format!("out-{format}");
        let base = ["--audio-format", format, "-o", &out_dir, "--book", book];
        let first = ws.run_against(&api, "saga.md", &base);
        assert_exit(&first, 0);
        assert!(
            !first.stderr.contains("retagged"),
            "{format}: {}",
            first.stderr
        );
        let sent = api.count();
        let dir = ws.path(&out_dir);
        let before = audio_hashes(&dir);
        assert_eq!(
            before.len(),
            4,
            "{format}: three chapters and the book: {before:?}"
        );

        let mut args = base.to_vec();
        args.extend(["--author", "Dee Writer"]);
        let out = ws.run_against(&api, "saga.md", &args);
        assert_exit(&out, 0);
        assert_eq!(api.count(), sent, "{format}: no request");
        assert!(
            out.stderr.contains("retagged 4 files"),
            "{format}: {}",
            out.stderr
        );
        // Same audio, and as many streams: one cover, not one more per retag.
        assert_eq!(
            audio_hashes(&dir),
            before,
            "{format}: the audio is the same"
        );
        for (name, _, _) in &before {
            let tags = tags_of(&dir.join(name));
            assert_fields(
                &tags,
                &[
                    ("artist", "Dee Writer"),
                    ("album_artist", "Dee Writer"),
                    ("composer", "Cy Reader"),
                ],
                name,
            );
            assert!(
                probe::probe(&dir.join(name)).has_cover,
                "{name}: cover kept"
            );
        }
        let (dc, _) = opf_fields(&dir.join("metadata.opf"));
        assert!(
            dc.iter().any(|(n, r, t)| n == "creator"
                && r.as_deref() == Some("aut")
                && t == "Dee Writer")
        );

        // The same settings again: nothing to retag.
        let out = ws.run_against(&api, "saga.md", &args);
        assert_exit(&out, 0);
        assert!(!out.stderr.contains("retagged"), "{format}: {}", out.stderr);
        assert_eq!(api.count(), sent);
    }
}
