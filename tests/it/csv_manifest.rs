//! CSV manifests end to end: per-row settings, keys from a column, output names.

use crate::support::decode::decoded_seconds;
use crate::support::*;

#[test]
fn quotes_use_their_row_voices_and_ids() {
    let ws = Workspace::new();
    ws.corpus("quotes.csv");
    let api = FakeApi::start();
    let out = ws.run_against(&api, "quotes.csv", &["-j", "8"]);
    assert_exit(&out, 0);
    assert_eq!(api.count(), 200);
    let source = std::fs::read_to_string(corpus_path("quotes.csv")).unwrap();
    let mut rows = csv::Reader::from_reader(source.as_bytes());
    for row in rows.records().take(20) {
        let row = row.unwrap();
        let (id, text, voice) = (&row[0], &row[1], &row[2]);
        let request = api
            .requests()
            .into_iter()
            .find(|r| r.input == text)
            .expect("requested");
        assert_eq!(request.voice, voice);
        let file = ws.path(&format!("quotes-audio/{id}.mp3"));
        assert_seconds(decoded_seconds(&file).unwrap(), served_seconds(&api, text));
    }
    assert_eq!(ws.report("quotes-audio")["totals"]["done"], 200);
}

#[test]
fn rows_set_format_speed_model_instructions_and_output() {
    let ws = Workspace::new();
    ws.write(
        "rows.csv",
        "id,text,audio_format,speed,model,instructions,output\n\
         a,First row.,wav,1.25,,,greetings/first\n\
         b,Second row.,,,gpt-4o-mini-tts,Speak softly.,\n\
         c,Third row.,,,,Ignored by tts-1.,third.mp3\n",
    );
    let api = FakeApi::start();
    assert_exit(&ws.run_against(&api, "rows.csv", &[]), 0);
    let by_input = |text: &str| {
        api.requests()
            .into_iter()
            .find(|r| r.input == text)
            .unwrap()
    };
    let a = by_input("First row.");
    assert_eq!((a.format.as_str(), a.speed), ("wav", Some(1.25)));
    let b = by_input("Second row.");
    assert_eq!(
        (b.model.as_str(), b.instructions.as_deref()),
        ("gpt-4o-mini-tts", Some("Speak softly."))
    );
    let c = by_input("Third row.");
    assert_eq!(c.instructions, None, "tts-1 takes no instructions");
    assert!(ws.path("rows-audio/greetings/first.wav").is_file());
    assert!(ws.path("rows-audio/b.mp3").is_file());
    assert!(ws.path("rows-audio/third.mp3").is_file());
}
