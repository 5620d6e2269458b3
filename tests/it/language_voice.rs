//! With `--provider espeak` and no `--voice`, each item's language picks its voice (detected
//! from the text where the manifest does not state it); a chosen voice that plainly cannot
//! read an item's script is warned about once. `plan` shows each item's voice.

use crate::support::*;

fn mixed_book(ws: &Workspace) {
    let chinese = std::fs::read_to_string(corpus_path("chinese-novel.md")).unwrap();
    let paragraph = chinese
        .split("\n\n")
        .find(|p| p.chars().count() > 200)
        .unwrap();
    ws.write(
        "mixed.md",
        format!(
            "# Mixed\n\n## One\n\nAlice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do.\n\n## Two\n\n{paragraph}\n"
        ),
    );
}

#[test]
fn the_texts_language_picks_the_offline_voice_per_item() {
    let ws = Workspace::new();
    mixed_book(&ws);
    let plan = ws.run(&["plan", "mixed.md", "--provider", "espeak"]);
    assert_exit(&plan, 0);
    let line = |key: &str| {
        plan.stdout
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key} in {}", plan.stdout))
            .to_owned()
    };
    assert!(line("01-one").ends_with("(voice en-us)"), "{}", plan.stdout);
    assert!(line("02-two").ends_with("(voice cmn)"), "{}", plan.stdout);
    assert!(!plan.stderr.contains("WARN"), "{}", plan.stderr);

    // The run speaks each item in that voice: the Chinese chapter is Mandarin, far shorter
    // than the English voice spelling out characters.
    let out = ws.run(&[
        "run",
        "mixed.md",
        "--provider",
        "espeak",
        "--audio-format",
        "wav",
    ]);
    assert_exit(&out, 0);
    let report = ws.report("mixed-audio");
    let two = item(&report, "02-two");
    let seconds = two["audio_seconds"].as_f64().unwrap();
    let english = ws.run(&[
        "run",
        "mixed.md",
        "--provider",
        "espeak",
        "--audio-format",
        "wav",
        "--voice",
        "en-us",
        "-o",
        "english",
    ]);
    assert_exit(&english, 0);
    let english_seconds = item(&ws.report("english"), "02-two")["audio_seconds"]
        .as_f64()
        .unwrap();
    assert!(
        seconds * 1.3 < english_seconds,
        "Mandarin {seconds} s, English voice {english_seconds} s"
    );
}

#[test]
fn a_chosen_voice_that_cannot_read_the_script_is_warned_about_once() {
    let ws = Workspace::new();
    mixed_book(&ws);
    let plan = ws.run(&[
        "plan",
        "mixed.md",
        "--provider",
        "espeak",
        "--voice",
        "en-gb",
    ]);
    assert_exit(&plan, 0);
    let warnings: Vec<&str> = plan.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{}", plan.stderr);
    assert!(warnings[0].contains("02-two") && warnings[0].contains("en-gb"));
    assert!(plan.stdout.contains("(voice en-gb)") && !plan.stdout.contains("(voice cmn)"));
}
