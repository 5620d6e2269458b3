//! The completion report: built from the queue as a pure function of its rows, written as
//! `report.json` and `report.csv` (atomically), or rendered for the terminal.

use std::io::Write;
use std::path::Path;

use rusqlite::Connection;
use serde::Serialize;

use crate::plan::cost_usd;
use crate::queue::{self, ItemRow, QueueError, RunRow};
use crate::store::TempFile;

/// `report.json`, as SPEC section 5 fixes it.
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
    pub items: Vec<ReportItem>,
}

/// Totals over the whole queue.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Totals {
    pub items: u64,
    pub done: u64,
    pub failed: u64,
    pub pending: u64,
    pub removed: u64,
    pub characters: u64,
    pub requests: u64,
    pub retries: u64,
    pub bytes: u64,
    pub audio_seconds: f64,
    pub estimated_cost_usd: f64,
}

/// Totals of the last run alone.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct RunTotals {
    pub requests: u64,
    pub retries: u64,
    pub characters_sent: u64,
}

/// One item of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ReportItem {
    pub key: String,
    pub title: Option<String>,
    pub status: String,
    pub output: String,
    pub characters: u64,
    pub chunks: u64,
    pub attempts: u64,
    pub bytes: Option<u64>,
    pub audio_seconds: Option<f64>,
    pub error: Option<String>,
}

impl From<ItemRow> for ReportItem {
    fn from(r: ItemRow) -> Self {
        ReportItem {
            key: r.key,
            title: r.title,
            status: r.status,
            output: r.output,
            characters: r.characters,
            chunks: r.chunks,
            attempts: r.attempts,
            bytes: r.bytes,
            audio_seconds: r.audio_seconds,
            error: r.error,
        }
    }
}

/// Reads the report out of the queue.
pub fn build(conn: &Connection) -> Result<Report, QueueError> {
    let run = queue::last_run(conn)?;
    let items: Vec<ReportItem> = queue::item_rows(conn)?
        .into_iter()
        .map(ReportItem::from)
        .collect();
    let (requests, retries, _) = queue::request_counts(conn, None)?;
    let (run_requests, run_retries, run_chars) = match &run {
        Some(r) => queue::request_counts(conn, Some(r.id))?,
        None => (0, 0, 0),
    };
    let estimated_cost_usd = spent(conn)?;
    Ok(assemble(
        run,
        items,
        (requests, retries),
        RunTotals {
            requests: run_requests,
            retries: run_retries,
            characters_sent: run_chars,
        },
        estimated_cost_usd,
    ))
}

/// The estimated cost of every request sent, at each piece's model's price.
fn spent(conn: &Connection) -> Result<f64, QueueError> {
    let mut stmt = conn.prepare(
        "SELECT p.model, sum(r.characters) FROM requests r JOIN pieces p ON p.fingerprint = r.piece GROUP BY p.model",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut total = 0.0;
    for row in rows {
        let (model, chars) = row?;
        total += cost_usd(&model, chars as usize);
    }
    Ok(round(total, 4))
}

/// The pure part of [`build`]: rows in, report out.
pub fn assemble(
    run: Option<RunRow>,
    items: Vec<ReportItem>,
    (requests, retries): (u64, u64),
    run_totals: RunTotals,
    estimated_cost_usd: f64,
) -> Report {
    let mut totals = Totals {
        requests,
        retries,
        estimated_cost_usd,
        ..Totals::default()
    };
    for item in &items {
        match item.status.as_str() {
            "done" => totals.done += 1,
            "failed" => totals.failed += 1,
            "removed" => totals.removed += 1,
            _ => totals.pending += 1,
        }
        if item.status != "removed" {
            totals.items += 1;
            totals.characters += item.characters;
        }
        if item.status == "done" {
            totals.bytes += item.bytes.unwrap_or(0);
            totals.audio_seconds += item.audio_seconds.unwrap_or(0.0);
        }
    }
    totals.audio_seconds = round(totals.audio_seconds, 3);
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
        items,
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

/// The report as pretty JSON.
pub fn to_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
        + "\n"
}

/// The items as CSV, one row per item.
pub fn to_csv(report: &Report) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "key",
        "title",
        "status",
        "output",
        "characters",
        "chunks",
        "attempts",
        "bytes",
        "audio_seconds",
        "error",
    ])?;
    for i in &report.items {
        w.write_record([
            i.key.clone(),
            i.title.clone().unwrap_or_default(),
            i.status.clone(),
            i.output.clone(),
            i.characters.to_string(),
            i.chunks.to_string(),
            i.attempts.to_string(),
            i.bytes.map(|b| b.to_string()).unwrap_or_default(),
            i.audio_seconds
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            i.error.clone().unwrap_or_default(),
        ])?;
    }
    w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The report as a Markdown summary and table, for a terminal or a wiki.
pub fn to_markdown(report: &Report) -> String {
    let t = &report.totals;
    let mut s = format!(
        "# tts-batch report\n\n- input: `{}`\n- out: `{}`\n- outcome: {}\n- items: {} ({} done, {} failed, {} pending, {} removed)\n- requests: {} ({} retries)\n- audio: {:.1} minutes, {} bytes\n- estimated cost: ${:.2}\n\n| key | status | output | characters | chunks | attempts | audio seconds | error |\n| --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
        report.input,
        report.out,
        report.outcome.as_deref().unwrap_or("none"),
        t.items,
        t.done,
        t.failed,
        t.pending,
        t.removed,
        t.requests,
        t.retries,
        t.audio_seconds / 60.0,
        t.bytes,
        t.estimated_cost_usd,
    );
    for i in &report.items {
        let cell = |x: &str| x.replace('|', "\\|").replace('\n', " ");
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(&i.key),
            i.status,
            cell(&i.output),
            i.characters,
            i.chunks,
            i.attempts,
            i.audio_seconds
                .map(|x| format!("{x:.1}"))
                .unwrap_or_default(),
            cell(i.error.as_deref().unwrap_or("")),
        ));
    }
    s
}

/// Writes `report.json` and `report.csv` into `out`, each whole or not at all.
pub fn write_files(report: &Report, out: &Path) -> std::io::Result<()> {
    let csv = to_csv(report).map_err(std::io::Error::other)?;
    for (name, bytes) in [
        ("report.json", to_json(report).into_bytes()),
        ("report.csv", csv),
    ] {
        let path = out.join(name);
        let temp = TempFile::beside(&path)?;
        let mut file = std::fs::File::create(temp.path())?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        temp.persist(&path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, status: &str, seconds: Option<f64>) -> ReportItem {
        ReportItem {
            key: key.into(),
            title: None,
            status: status.into(),
            output: format!("{key}.mp3"),
            characters: 100,
            chunks: 1,
            attempts: 1,
            bytes: seconds.map(|_| 1000),
            audio_seconds: seconds,
            error: (status == "failed").then(|| "400 Bad Request: nope".into()),
        }
    }

    #[test]
    fn totals_add_up_and_removed_items_do_not_count() {
        let items = vec![
            item("a", "done", Some(1.5)),
            item("b", "done", Some(2.0)),
            item("c", "failed", None),
            item("d", "pending", None),
            item("e", "removed", Some(9.0)),
        ];
        let r = assemble(None, items, (6, 1), RunTotals::default(), 0.01);
        assert_eq!(
            r.totals,
            Totals {
                items: 4,
                done: 2,
                failed: 1,
                pending: 1,
                removed: 1,
                characters: 400,
                requests: 6,
                retries: 1,
                bytes: 2000,
                audio_seconds: 3.5,
                estimated_cost_usd: 0.01,
            }
        );
        let csv = String::from_utf8(to_csv(&r).unwrap()).unwrap();
        assert!(csv.starts_with(
            "key,title,status,output,characters,chunks,attempts,bytes,audio_seconds,error\n"
        ));
        assert!(
            csv.contains("c,,failed,c.mp3,100,1,1,,,400 Bad Request: nope\n"),
            "{csv}"
        );
        assert!(to_markdown(&r).contains("| c | failed | c.mp3 |"));
    }
}
