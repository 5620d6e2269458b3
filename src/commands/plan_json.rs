//! `plan --json`: the plan as one JSON document on stdout, streamed. The settings come first,
//! then the items one at a time, then the totals: the totals are known only after the last
//! item, and holding a million items back to print the totals first would not keep memory
//! flat. A JSON object's members have no order, so `.totals` reads the same either way.
//!
//! ```text
//! {"settings": {...}, "items": [{"key", "title", "output", "characters", "pieces",
//!  "requests"}, ...], "left_out": [{"title", "href", "reason"}, ...], "totals": {"items", "pieces", "characters", "requests",
//!  "characters_to_send", "estimated_cost_usd", "estimated_seconds", "limited_by"}}
//! ```

use std::io::{self, Write};

use super::plan_rows::{PlanRow, PlanTotals};
use crate::config::Config;
use crate::manifest::{BookMetadata, LeftOut};
use crate::plan::estimate::answer_figures;

/// The `settings` member: what the report's settings show (never the key), with the input,
/// the output folder, and the price and answer time the estimates assume for the default
/// model.
pub(super) fn settings(cfg: &Config, book: Option<&BookMetadata>) -> serde_json::Value {
    let mut settings = crate::report::settings_json(cfg);
    let (latency, per_char) = answer_figures(&cfg.voice.model);
    if let Some(map) = settings.as_object_mut() {
        map.insert("input".into(), cfg.input.display().to_string().into());
        map.insert("out".into(), cfg.out.display().to_string().into());
        let price = crate::plan::prices::price(&cfg.voice.model, &cfg.base_url);
        map.insert(
            "price_per_million_chars".into(),
            match price {
                Some(crate::plan::prices::Price::PerMillionChars(p)) => p.into(),
                Some(crate::plan::prices::Price::Free) => 0.0.into(),
                _ => serde_json::Value::Null,
            },
        );
        map.insert(
            "price".into(),
            serde_json::json!({
                "model": cfg.voice.model,
                "known": price.is_some(),
                "description": price.map(|p| p.describe()),
                "read": crate::plan::prices::PRICES_READ,
            }),
        );
        map.insert(
            "assumed_answer_seconds".into(),
            serde_json::json!({ "latency": latency, "per_character": per_char }),
        );
        // An EPUB's own description: the defaults of the book's tags.
        if let Some(book) = book {
            map.insert(
                "book".into(),
                serde_json::json!({
                    "title": book.title,
                    "authors": book.authors,
                    "language": book.language,
                    "cover": book.cover.as_ref().map(|c| c.media_type.clone()),
                }),
            );
        }
    }
    settings
}

/// Writes the plan's JSON: [`begin`](Self::begin) with the settings, an [`item`](Self::item)
/// per item, [`end`](Self::end) with the totals.
pub(super) struct PlanJsonWriter<W: Write> {
    w: W,
    first: bool,
}

impl<W: Write> PlanJsonWriter<W> {
    /// Writes the settings and opens the items array.
    pub fn begin(mut w: W, settings: &serde_json::Value) -> io::Result<Self> {
        w.write_all(b"{\n  \"settings\": ")?;
        serde_json::to_writer(&mut w, settings).map_err(io::Error::other)?;
        w.write_all(b",\n  \"items\": [")?;
        Ok(PlanJsonWriter { w, first: true })
    }

    /// Writes one item.
    pub fn item(&mut self, row: &PlanRow<'_>) -> io::Result<()> {
        let sep: &[u8] = if self.first { b"\n    " } else { b",\n    " };
        self.first = false;
        self.w.write_all(sep)?;
        serde_json::to_writer(&mut self.w, row).map_err(io::Error::other)
    }

    /// Closes the items, writes the totals, and gives the writer back.
    pub fn end(mut self, cfg: &Config, t: &PlanTotals, left_out: &[LeftOut]) -> io::Result<W> {
        let estimate = t.estimate(cfg);
        let totals = serde_json::json!({
            "items": t.items,
            "pieces": t.pieces,
            "characters": t.chars,
            "requests": t.work.requests,
            "characters_to_send": t.work.characters,
            "estimated_cost_usd": t.unpriced.is_none().then(|| round(t.cost, 4)),
            "transcription_cost_usd": round(t.hearing_cost, 4),
            "estimated_seconds": round(estimate.seconds, 1),
            "limited_by": estimate.bound,
        });
        let close: &[u8] = if self.first { b"],\n" } else { b"\n  ],\n" };
        self.w.write_all(close)?;
        let left_out: Vec<serde_json::Value> = left_out
            .iter()
            .map(|l| serde_json::json!({"title": l.title, "href": l.href, "reason": l.reason}))
            .collect();
        self.w.write_all(b"  \"left_out\": ")?;
        serde_json::to_writer(&mut self.w, &left_out).map_err(io::Error::other)?;
        self.w.write_all(b",\n  \"totals\": ")?;
        serde_json::to_writer(&mut self.w, &totals).map_err(io::Error::other)?;
        self.w.write_all(b"\n}\n")?;
        Ok(self.w)
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}
