//! Each model's request limit: `gpt-4o-mini-tts` takes at most 2000 input tokens a request, so
//! its pieces are cut by tokens as well as by `--max-chars`, and `plan` says so.

use crate::support::server::{MINI_TTS_MAX_TOKENS, count_tokens};
use crate::support::*;

#[test]
fn a_chinese_novel_for_gpt_4o_mini_tts_stays_under_its_token_limit() {
    let ws = Workspace::new();
    ws.corpus("chinese-novel.md");
    let api = FakeApi::builder().ms_per_char(2).start();
    let args = ["--model", "gpt-4o-mini-tts"];

    let plan = ws.run(&["plan", "chinese-novel.md", args[0], args[1]]);
    assert_exit(&plan, 0);
    assert!(
        plan.stdout.contains("2000 tokens"),
        "plan does not show the limit: {}",
        plan.stdout
    );

    let out = ws.run_against(&api, "chinese-novel.md", &args);
    assert_exit(&out, 0);
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.status == 200),
        "refused: {:?}",
        requests
            .iter()
            .filter(|r| r.status != 200)
            .map(|r| r.status)
            .collect::<Vec<_>>()
    );
    let most = requests
        .iter()
        .map(|r| count_tokens(&r.input))
        .max()
        .unwrap();
    assert!(most <= MINI_TTS_MAX_TOKENS, "{most} tokens in one request");
    // Cut by tokens, not needlessly small: the pieces use most of the limit.
    assert!(
        most > MINI_TTS_MAX_TOKENS / 2,
        "largest piece only {most} tokens"
    );
    let report = ws.report("chinese-novel-audio");
    assert_eq!(report["totals"]["failed"], 0);
    assert_eq!(report["totals"]["done"], report["totals"]["items"]);
}

#[test]
fn other_models_keep_the_character_cap() {
    let ws = Workspace::new();
    ws.corpus("chinese-novel.md");
    let plan = ws.run(&["plan", "chinese-novel.md", "--model", "tts-1"]);
    assert_exit(&plan, 0);
    assert!(!plan.stdout.contains("tokens"), "{}", plan.stdout);
    let mini = ws.run(&["plan", "chinese-novel.md", "--model", "gpt-4o-mini-tts"]);
    let pieces = |s: &str| {
        s.lines()
            .find(|l| l.contains(" items, "))
            .unwrap_or_default()
            .to_owned()
    };
    assert_ne!(
        pieces(&plan.stdout),
        pieces(&mini.stdout),
        "the token cut makes more pieces"
    );
}
