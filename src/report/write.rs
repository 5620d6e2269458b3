//! The report's renderings, streamed: JSON (`report.json`), CSV (`report.csv`) and Markdown
//! (for the terminal). Each takes the head once and the items one at a time.

use std::io::{self, Write};

use super::{ItemRow, Report};

/// Writes `report.json`: the head, then `"items"` streamed one by one.
pub struct JsonWriter<W: Write> {
    w: W,
    first: bool,
}

impl<W: Write> JsonWriter<W> {
    /// Writes the head and opens the items array.
    pub fn begin(mut w: W, report: &Report) -> io::Result<Self> {
        let head = serde_json::to_string_pretty(report).map_err(io::Error::other)?;
        // The head is an object; reopen it to add the items after its last field.
        let open = head
            .trim_end()
            .strip_suffix('}')
            .unwrap_or(&head)
            .trim_end();
        write!(w, "{open},\n  \"items\": [")?;
        Ok(JsonWriter { w, first: true })
    }

    /// Writes one item.
    pub fn item(&mut self, item: &ItemRow) -> io::Result<()> {
        let text = serde_json::to_string(item).map_err(io::Error::other)?;
        let sep = if self.first { "\n    " } else { ",\n    " };
        self.first = false;
        write!(self.w, "{sep}{text}")
    }

    /// Closes the items and the object, and gives the writer back.
    pub fn end(mut self) -> io::Result<W> {
        let close = if self.first { "]\n}\n" } else { "\n  ]\n}\n" };
        self.w.write_all(close.as_bytes())?;
        Ok(self.w)
    }
}

/// Writes `report.csv`: one row per item.
pub struct CsvWriter<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> CsvWriter<W> {
    /// Writes the header row.
    pub fn begin(w: W) -> io::Result<Self> {
        let mut w = csv::Writer::from_writer(w);
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
            "warnings",
            "wer",
            "verified_pieces",
        ])?;
        Ok(CsvWriter { w })
    }

    /// Writes one item.
    pub fn item(&mut self, i: &ItemRow) -> io::Result<()> {
        self.w.write_record([
            i.key.as_str(),
            i.title.as_deref().unwrap_or(""),
            i.status.as_str(),
            i.output.as_str(),
            &i.characters.to_string(),
            &i.chunks.to_string(),
            &i.attempts.to_string(),
            &i.bytes.map(|b| b.to_string()).unwrap_or_default(),
            &i.audio_seconds
                .map(|s| format!("{s:.3}"))
                .unwrap_or_default(),
            i.error.as_deref().unwrap_or(""),
            &i.warnings.join("; "),
            &i.wer.map(|w| format!("{w:.4}")).unwrap_or_default(),
            &i.verified_pieces.to_string(),
        ])?;
        Ok(())
    }

    /// Flushes and gives the writer back.
    pub fn end(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

/// The head of the Markdown rendering.
pub fn markdown_head(report: &Report) -> String {
    let t = &report.totals;
    format!(
        "# tts-batch report\n\n- input: `{}`\n- out: `{}`\n- outcome: {}\n- items: {} ({} done, {} failed, {} pending, {} removed)\n- requests: {} ({} retries)\n- audio: {:.1} minutes, {} bytes ({} items with audio warnings)\n- estimated cost: {}\n{}\n| key | status | output | characters | chunks | attempts | audio seconds | error or warnings |\n| --- | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
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
        t.warnings,
        t.estimated_cost_usd
            .map_or_else(|| "unknown".to_string(), |c| format!("${c:.2}"))
            + &if t.verified_pieces > 0 || t.transcription_cost_usd > 0.0 {
                format!(" (of which transcription ${:.4})", t.transcription_cost_usd)
            } else {
                String::new()
            },
        match t.wer {
            Some(wer) => format!(
                "- heard back: {} pieces, word error rate {wer:.3}\n",
                t.verified_pieces
            ),
            None => String::new(),
        },
    )
}

/// One item as a Markdown table row.
pub fn markdown_row(i: &ItemRow) -> String {
    let cell = |x: &str| x.replace('|', "\\|").replace('\n', " ");
    format!(
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
        cell(&i.error.clone().unwrap_or_else(|| i.warnings.join("; "))),
    )
}
