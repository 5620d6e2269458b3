//! Refused before sending, not after paying: manifests whose items would collide on one file,
//! names too long for the file system, a CSV quote never closed, a book of headings alone.

use crate::support::*;

#[test]
fn two_items_that_would_write_one_file_are_refused() {
    let ws = Workspace::new();
    // The id `a` writes a.mp3; the second row names a.mp3 itself.
    ws.write("same.csv", "id,text,output\na,Hello.,\nb,World.,a.mp3\n");
    refused(&ws, &["run", "same.csv"], "same.csv: line 3");
    refused(&ws, &["run", "same.csv"], "a.mp3");
    // Case differs: one file on macOS and Windows.
    ws.write(
        "case.csv",
        "id,text,output\nChapter,Hello.,\nb,World.,chapter.MP3\n",
    );
    refused(&ws, &["run", "case.csv"], "case.csv: line 3");
    ws.write("ids.csv", "id,text\nIntro,Hello.\nintro,World.\n");
    refused(&ws, &["run", "ids.csv"], "ids.csv: line 3");
    // The same stem with another format is another file: no refusal.
    ws.write(
        "formats.csv",
        "id,text,output,audio_format\na,Hello.,,mp3\nb,World.,a.wav,wav\n",
    );
    let plan = ws.run(&["plan", "formats.csv"]);
    assert_exit(&plan, 0);
}

#[test]
fn over_long_file_names_are_shortened_uniquely_and_stay_put() {
    let ws = Workspace::new();
    let long_a = "a".repeat(300);
    let long_b = format!("{}b", "a".repeat(299));
    let wide = "語".repeat(120); // 360 bytes of UTF-8
    ws.write(
        "long.csv",
        format!("id,text\n{long_a},First.\n{long_b},Second.\n{wide},Third.\n"),
    );
    let api = FakeApi::start();
    let out = ws.run_against(&api, "long.csv", &[]);
    assert_exit(&out, 0);
    let report = ws.report("long-audio");
    let outputs: Vec<String> = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["output"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(outputs.len(), 3);
    for output in &outputs {
        assert!(output.len() <= 200, "{} bytes: {output}", output.len());
        assert!(output.ends_with(".mp3"), "{output}");
        assert!(ws.path("long-audio").join(output).is_file(), "{output}");
    }
    assert_ne!(outputs[0], outputs[1], "shortened names stay unique");
    assert!(outputs[2].starts_with("語語語"), "{}", outputs[2]);
    // The same names on the next run: nothing is paid again.
    api.reset_log();
    assert_exit(&ws.run_against(&api, "long.csv", &[]), 0);
    assert_eq!(api.count(), 0);
}

#[test]
fn an_over_long_output_cell_is_refused() {
    let ws = Workspace::new();
    let name = format!("{}.mp3", "n".repeat(300));
    ws.write("out.csv", format!("id,text,output\na,Hello.,{name}\n"));
    refused(&ws, &["run", "out.csv"], "out.csv: line 2");
    refused(&ws, &["run", "out.csv"], "too long");
}

#[test]
fn a_csv_quote_never_closed_is_refused() {
    let ws = Workspace::new();
    ws.write(
        "quote.csv",
        "id,text\n1,Fine.\n2,\"Opened here\n3,and never\n4,closed.\n",
    );
    refused(&ws, &["run", "quote.csv"], "quote.csv: line 3");
    refused(&ws, &["run", "quote.csv"], "quote");
    refused(&ws, &["plan", "quote.csv"], "never closed");
    // Quotes closed across lines, and doubled quotes inside, are fine.
    ws.write(
        "ok.csv",
        "id,text\n1,\"Two\nlines, \"\"quoted\"\".\"\n2,Plain \"inner\" quote.\n",
    );
    assert_exit(&ws.run(&["plan", "ok.csv"]), 0);
}

#[test]
fn a_markdown_book_of_headings_and_no_prose_is_refused() {
    let ws = Workspace::new();
    ws.write("toc.md", "# The Book\n\n## One\n\n## Two\n\n## Three\n");
    refused(&ws, &["run", "toc.md"], "toc.md: line 3");
    refused(&ws, &["plan", "toc.md"], "no prose");
}

#[test]
fn a_chapter_that_is_only_its_heading_is_no_item_and_warned_of_once() {
    let ws = Workspace::new();
    ws.write(
        "book.md",
        "## One\n\nThe first words.\n\n## Two\n\n## Three\n\n## Four\n\nThe last words.\n",
    );
    let api = FakeApi::start();
    let out = ws.run_against(&api, "book.md", &[]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), 2, "{:?}", api.requests());
    assert!(api.requests().iter().all(|r| r.input.contains("words")));
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("only a heading"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].contains("line 5") && warnings[0].contains("line 7"),
        "{}",
        warnings[0]
    );
    assert_eq!(ws.report("book-audio")["totals"]["items"], 2);
}
