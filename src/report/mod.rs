//! The completion report, read from the queue: its head (run, settings, totals) from a few
//! aggregate queries, its items streamed one row at a time into `report.json` and `report.csv`
//! (each written whole or not at all), or rendered for the terminal. Memory stays flat whatever
//! the number of items.

use std::io::{self, BufWriter};
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::plan::cost_usd;
use crate::queue::{self, QueueError, RunRow};
pub use crate::queue::{ItemRow, Totals};
use crate::store::TempFile;

mod settings;
mod write;

pub use settings::settings_json;
pub use write::{CsvWriter, JsonWriter, markdown_head, markdown_row};

/// `report.json` without its items, which are streamed after it (SPEC section 5).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub input: String,
    pub out: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_seconds: f64,
    /// How the last run ended: done, failed, stopped (why), or running.
    pub outcome: Option<String>,
    pub settings: serde_json::Value,
    pub totals: Totals,
    /// What the last run did by itself (the totals count every run of this queue).
    pub run: RunTotals,
}

/// Totals of the last run alone.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RunTotals {
    pub requests: u64,
    pub retries: u64,
    pub characters_sent: u64,
}

/// A report that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads the report's head out of the queue.
pub fn build(conn: &Connection) -> Result<Report, QueueError> {
    let run = queue::last_run(conn)?;
    let (requests, retries, _) = queue::request_counts(conn, None)?;
    let (run_requests, run_retries, run_chars) = match &run {
        Some(r) => queue::request_counts(conn, Some(r.id))?,
        None => (0, 0, 0),
    };
    let mut totals = queue::item_totals(conn)?;
    totals.requests = requests;
    totals.retries = retries;
    let base_url = run
        .as_ref()
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r.settings).ok())
        .and_then(|s| s.get("base_url")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let billed = queue::billed(conn)?;
    let speech = spent(conn, &base_url)?.map(|estimate| estimate + billed.map_or(0.0, |b| b.0));
    let transcription = queue::transcription_cost(conn)?;
    totals.speech_cost_usd = speech.map(|c| round(c, 4));
    totals.transcription_cost_usd = round(transcription, 6);
    totals.estimated_cost_usd = speech.map(|c| round(c + transcription, 4));
    totals.billed_usd = billed.map(|b| round(b.0, 6));
    totals.billed_tokens = billed.map(|b| b.1);
    totals.audio_seconds = round(totals.audio_seconds, 3);
    Ok(head(
        run,
        totals,
        RunTotals {
            requests: run_requests,
            retries: run_retries,
            characters_sent: run_chars,
        },
    ))
}

/// The estimated cost of every request sent that the server did not bill in tokens, at each
/// piece's model's price: `None` when some model's price is not known.
fn spent(conn: &Connection, base_url: &str) -> Result<Option<f64>, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT p.model, sum(r.characters) FROM requests r JOIN pieces p ON p.fingerprint = r.piece
         WHERE r.billed_usd IS NULL GROUP BY p.model",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut total = 0.0;
    for row in rows {
        let (model, chars) = row?;
        match cost_usd(&model, base_url, usize::try_from(chars).unwrap_or(0)) {
            Some(cost) => total += cost,
            None => return Ok(None),
        }
    }
    Ok(Some(total))
}

/// The pure part of [`build`]: the last run and the totals in, the head out.
pub fn head(run: Option<RunRow>, totals: Totals, run_totals: RunTotals) -> Report {
    let elapsed_seconds = run
        .as_ref()
        .and_then(|r| Some(elapsed(&r.started_at, r.finished_at.as_deref()?)))
        .unwrap_or(0.0);
    Report {
        tool: "tts-batch",
        version: env!("CARGO_PKG_VERSION"),
        input: run.as_ref().map(|r| r.input.clone()).unwrap_or_default(),
        out: run.as_ref().map(|r| r.out.clone()).unwrap_or_default(),
        started_at: run.as_ref().map(|r| r.started_at.clone()),
        finished_at: run.as_ref().and_then(|r| r.finished_at.clone()),
        elapsed_seconds,
        outcome: run
            .as_ref()
            .map(|r| r.outcome.clone().unwrap_or_else(|| "running".into())),
        settings: run
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.settings).ok())
            .unwrap_or(serde_json::Value::Null),
        totals,
        run: run_totals,
    }
}

fn elapsed(start: &str, end: &str) -> f64 {
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;
    match (
        OffsetDateTime::parse(start, &Rfc3339),
        OffsetDateTime::parse(end, &Rfc3339),
    ) {
        (Ok(a), Ok(b)) => round((b - a).as_seconds_f64().max(0.0), 3),
        _ => 0.0,
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// Streams every item of the queue to `f`, in manifest order (removed ones last).
pub fn each_item(
    conn: &Connection,
    mut f: impl FnMut(&ItemRow) -> io::Result<()>,
) -> Result<(), ReportError> {
    let mut failed = None;
    queue::each_item_row(conn, |row| {
        if failed.is_some() {
            return;
        }
        if let Err(e) = f(&row) {
            failed = Some(e);
        }
    })?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Writes `report.json` and `report.csv` into `out` in one pass over the items, each file
/// whole or not at all.
pub fn write_files(conn: &Connection, report: &Report, out: &Path) -> Result<(), ReportError> {
    let json_path = out.join("report.json");
    let csv_path = out.join("report.csv");
    let json_temp = TempFile::beside(&json_path)?;
    let csv_temp = TempFile::beside(&csv_path)?;
    let mut json = JsonWriter::begin(
        BufWriter::new(std::fs::File::create(json_temp.path())?),
        report,
    )?;
    let mut csv = CsvWriter::begin(BufWriter::new(std::fs::File::create(csv_temp.path())?))?;
    each_item(conn, |item| {
        json.item(item)?;
        csv.item(item)
    })?;
    for (writer, temp, path) in [
        (json.end()?, json_temp, json_path),
        (csv.end()?, csv_temp, csv_path),
    ] {
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        temp.persist(&path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ItemState;

    fn item(key: &str, status: ItemState, seconds: Option<f64>) -> ItemRow {
        ItemRow {
            key: key.into(),
            title: None,
            status,
            output: format!("{key}.mp3"),
            characters: 100,
            chunks: 1,
            attempts: 1,
            bytes: seconds.map(|_| 1000),
            audio_seconds: seconds,
            error: (status == ItemState::Failed).then(|| "400 Bad Request: nope".into()),
            warnings: Vec::new(),
            wer: (status == ItemState::Done).then_some(0.05),
            verified_pieces: u64::from(status == ItemState::Done),
        }
    }

    #[test]
    fn json_and_csv_stream_items_after_the_head() {
        let report = head(None, Totals::default(), RunTotals::default());
        let mut json = JsonWriter::begin(Vec::new(), &report).unwrap();
        let mut csv = CsvWriter::begin(Vec::new()).unwrap();
        let warned = ItemRow {
            warnings: vec![
                "piece 2: audio too short".into(),
                "piece 3: audio too long".into(),
            ],
            ..item("b", ItemState::Done, Some(2.0))
        };
        for i in [
            item("a", ItemState::Done, Some(1.5)),
            warned,
            item("c", ItemState::Failed, None),
        ] {
            json.item(&i).unwrap();
            csv.item(&i).unwrap();
        }
        let json: serde_json::Value = serde_json::from_slice(&json.end().unwrap()).unwrap();
        assert_eq!(json["tool"], "tts-batch");
        assert_eq!(json["items"][0]["key"], "a");
        assert_eq!(json["items"][0]["warnings"], serde_json::json!([]));
        assert_eq!(json["items"][1]["warnings"][1], "piece 3: audio too long");
        assert_eq!(json["items"][2]["error"], "400 Bad Request: nope");
        assert_eq!(json["items"][0]["wer"], 0.05);
        assert_eq!(json["items"][2]["wer"], serde_json::Value::Null);
        assert_eq!(json["items"][2]["verified_pieces"], 0);
        assert_eq!(json["totals"]["done"], 0);
        let csv = String::from_utf8(csv.end().unwrap()).unwrap();
        assert!(csv.starts_with(
            "key,title,status,output,characters,chunks,attempts,bytes,audio_seconds,error,warnings,wer,verified_pieces\n"
        ));
        assert!(
            csv.contains(",piece 2: audio too short; piece 3: audio too long,0.0500,1\n"),
            "{csv}"
        );
        assert!(
            csv.contains("c,,failed,c.mp3,100,1,1,,,400 Bad Request: nope,,,0\n"),
            "{csv}"
        );
        assert!(
            markdown_row(&item("c", ItemState::Failed, None)).starts_with("| c | failed | c.mp3 |")
        );
    }

    #[test]
    fn an_empty_report_is_still_json() {
        let report = head(None, Totals::default(), RunTotals::default());
        let json = JsonWriter::begin(Vec::new(), &report)
            .unwrap()
            .end()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(json["items"], serde_json::json!([]));
    }
}
