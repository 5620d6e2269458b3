//! Bad input: one clear line naming the file, line or value, exit 2, no request, nothing
//! written. And the job files and examples shipped in `jobs/` and `examples/`.

use crate::support::*;

#[test]
fn bad_manifests_are_refused_by_name_and_line() {
    let ws = Workspace::new();
    ws.write("empty.txt", "\n  \n\n");
    ws.write("bad-utf8.txt", b"fine\nalso fine\nbroken \xff here\n");
    ws.write("notes.docx", "text");
    ws.write("dir.txt/inner", "x");
    ws.write("ragged.csv", "id,text\n1,one\n2,two,extra\n");
    ws.write("notext.csv", "id,body\n1,one\n");
    ws.write("dupes.csv", "id,text\n7,one\n7,two\n");
    ws.write("escape.csv", "id,text,output\n1,one,../../etc/x\n");
    ws.write("abs.csv", "id,text,output\n1,one,/tmp/x\n");
    ws.write("blank.md", "<!-- nothing -->\n\n```\ncode only\n```\n");
    ws.write("big.csv", "id,text,speed\n1,one,12\n");
    refused(&ws, &["run", "missing.txt"], "missing.txt: no such file");
    refused(&ws, &["run", "empty.txt"], "empty.txt: nothing to say");
    refused(
        &ws,
        &["run", "bad-utf8.txt"],
        "bad-utf8.txt: line 3, byte 8: not valid UTF-8",
    );
    refused(&ws, &["run", "notes.docx"], "unknown extension `.docx`");
    refused(&ws, &["run", "dir.txt"], "dir.txt: is a directory");
    refused(
        &ws,
        &["run", "ragged.csv"],
        "ragged.csv: line 3: malformed CSV",
    );
    refused(
        &ws,
        &["run", "notext.csv"],
        "notext.csv: line 1: no `text` column",
    );
    refused(
        &ws,
        &["run", "dupes.csv"],
        "dupes.csv: line 3: duplicate key `7`",
    );
    refused(
        &ws,
        &["run", "escape.csv"],
        "escape.csv: line 2: output `../../etc/x` leaves --out",
    );
    refused(
        &ws,
        &["run", "abs.csv"],
        "abs.csv: line 2: output `/tmp/x` is absolute",
    );
    refused(&ws, &["run", "blank.md"], "blank.md: nothing to say");
    refused(
        &ws,
        &["run", "big.csv"],
        "big.csv: line 2: speed 12 is out of range",
    );
    refused(&ws, &["plan", "missing.txt"], "missing.txt: no such file");
}

#[test]
fn bad_settings_are_refused_by_name() {
    let ws = Workspace::new();
    ws.write("a.txt", "Hello.\n");
    ws.write("job.toml", "input = \"a.txt\"\nvoise = \"nova\"\n");
    ws.write(
        "bad-type.toml",
        "input = \"a.txt\"\nconcurrency = \"many\"\n",
    );
    ws.write("bad-rpm.toml", "input = \"a.txt\"\nrpm = \"fast\"\n");
    ws.write("no-input.toml", "voice = \"nova\"\n");
    refused(
        &ws,
        &["run", "a.txt", "--speed", "9"],
        "--speed: 9 is out of range",
    );
    refused(
        &ws,
        &["run", "a.txt", "--max-chars", "5000"],
        "--max-chars: 5000 is out of range",
    );
    refused(
        &ws,
        &["run", "a.txt", "-j", "0"],
        "--concurrency: 0 is out of range",
    );
    refused(
        &ws,
        &["run", "a.txt", "--rpm", "0"],
        "--rpm: 0 is out of range",
    );
    refused(
        &ws,
        &["run", "a.txt", "--audio-format", "ogg"],
        "unknown audio format `ogg`",
    );
    refused(
        &ws,
        &["run", "a.txt", "--base-url", "not a url"],
        "--base-url: `not a url` is not a URL",
    );
    refused(
        &ws,
        &["run", "a.txt", "--base-url", "http://relay.example/v1"],
        "--allow-insecure-http",
    );
    refused(
        &ws,
        &["run", "job.toml"],
        "job.toml: line 2: unknown field `voise`",
    );
    refused(&ws, &["run", "bad-type.toml"], "bad-type.toml: line 2");
    refused(
        &ws,
        &["run", "bad-rpm.toml"],
        "bad-rpm.toml: --rpm: `fast` is not a number",
    );
    refused(
        &ws,
        &["run", "a.txt", "--rpm", "lots"],
        "--rpm: `lots` is not a number",
    );
    refused(&ws, &["run", "no-input.toml"], "no `input` key");
    refused(
        &ws,
        &["run", "a.txt", "--api-key-env", "NO_SUCH_KEY_VAR"],
        "NO_SUCH_KEY_VAR is not set",
    );
    refused(
        &ws,
        &["run", "a.txt", "--api-key-file", "nokey"],
        "--api-key-file nokey: no such file",
    );
}

#[test]
fn an_unusable_queue_is_refused_clearly() {
    let ws = Workspace::new();
    ws.write("a.txt", "Hello.\n");
    ws.write(
        "a-audio/tts-batch.db",
        "this is not a database, just text that is long enough to matter",
    );
    let api = FakeApi::start();
    let out = ws.run_against(&api, "a.txt", &[]);
    assert_exit(&out, 2);
    assert!(
        out.stderr.contains("not a tts-batch queue"),
        "{}",
        out.stderr
    );
    assert_eq!(api.count(), 0);
}

#[test]
fn the_key_never_reaches_output_queue_or_report() {
    let ws = Workspace::new();
    ws.write("lines.txt", "One line.\nTwo line.\n");
    let api = FakeApi::builder()
        .fault_when("Two", Fault::Status500, 1)
        .start();
    let out = ws
        .run_command(
            &api,
            "lines.txt",
            &["--rpm", "6000", "-vvv", "--log-format", "json"],
        )
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let key = KEY.as_bytes();
    let contains = |hay: &[u8]| hay.windows(key.len()).any(|w| w == key);
    assert!(
        !contains(&out.stdout) && !contains(&out.stderr),
        "the key was printed"
    );
    for file in ws.files() {
        let bytes = std::fs::read(ws.path(&file)).unwrap();
        assert!(!contains(&bytes), "the key is in {file}");
    }
}

#[test]
fn shipped_job_files_and_examples_run() {
    let ws = Workspace::new();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["jobs", "examples"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".rs") {
                ws.write(
                    &format!("{dir}/{name}"),
                    std::fs::read(entry.path()).unwrap(),
                );
            }
        }
    }
    let api = FakeApi::builder().ms_per_char(15).start();
    for job in ["jobs/quotes.toml", "jobs/lines.toml"] {
        let out = ws.run(&[
            "run",
            job,
            "--base-url",
            &api.base_url(),
            "--rpm",
            "6000",
            "-j",
            "8",
        ]);
        assert_exit(&out, 0);
    }
    assert!(api.count() > 0);
    let plan = ws.run(&["plan", "jobs/book.toml"]);
    assert_exit(&plan, 0);
    assert!(plan.stdout.contains("01-"), "{}", plan.stdout);
}
