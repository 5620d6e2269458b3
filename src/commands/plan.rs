//! `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
//! Prints a table, or with `--json` one JSON document (`plan_json.rs`); both stream.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use super::plan_json::PlanJsonWriter;
use crate::config::Config;
use crate::error::{Error, Outcome};
use crate::plan::estimate::{self, Bound, Estimate, Pace, Workload};
use crate::{manifest, plan, queue};

/// `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
/// Streams: one item at a time, whatever the manifest's size.
pub(super) fn plan(cfg: &Config, json: bool) -> Result<Outcome, Error> {
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let defaults = Arc::new(cfg.voice.clone());
    plan::check_manifest(&manifest, &defaults, cfg.max_chars).map_err(Error::input)?;
    let done: HashSet<u128> = match queue::open_read_only(&cfg.db) {
        Ok(conn) => queue::done_pieces(&conn)?
            .iter()
            .filter_map(|fp| fingerprint_bits(fp))
            .collect(),
        Err(queue::QueueError::Missing(_)) => HashSet::new(),
        Err(e) => return Err(e.into()),
    };
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e: std::io::Error| Error::Other(e.into());
    let mut render = if json {
        Render::Json(
            PlanJsonWriter::begin(out, &super::plan_json::settings(cfg)).map_err(write_err)?,
        )
    } else {
        Render::table(out).map_err(write_err)?
    };
    let mut seen: HashSet<u128> = HashSet::new();
    let mut totals = PlanTotals::default();
    for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
        let item = plan::plan_item(seq, &item.map_err(Error::input)?, &defaults, cfg.max_chars)
            .map_err(Error::input)?;
        let mut item_requests = 0;
        for p in &item.pieces {
            let bits = fingerprint_bits(&p.fingerprint).unwrap_or_default();
            if !done.contains(&bits) && seen.insert(bits) {
                item_requests += 1;
                totals.work.add(&item.settings.model, p.characters);
                totals.cost += plan::cost_usd(&item.settings.model, p.characters);
            }
        }
        totals.items += 1;
        totals.pieces += item.pieces.len();
        totals.chars += item.characters;
        render
            .item(&PlanRow {
                key: &item.key,
                title: item.title.as_deref(),
                output: &item.output,
                characters: item.characters,
                pieces: item.pieces.len(),
                requests: item_requests,
            })
            .map_err(write_err)?;
    }
    render.end(cfg, &totals).map_err(write_err)?;
    Ok(Outcome::Done)
}

/// The first 128 bits of a hex fingerprint: a set of these is a fifth the size of strings.
fn fingerprint_bits(hex: &str) -> Option<u128> {
    u128::from_str_radix(hex.get(..32)?, 16).ok()
}

/// One item of the plan, as the table and the JSON show it.
#[derive(Debug, serde::Serialize)]
pub(super) struct PlanRow<'a> {
    pub key: &'a str,
    pub title: Option<&'a str>,
    pub output: &'a str,
    pub characters: usize,
    pub pieces: usize,
    /// Pieces of this item to send: not in the store, and not already counted for an
    /// earlier item with the same text and settings.
    pub requests: usize,
}

/// What `plan` adds up.
#[derive(Debug, Default)]
pub(super) struct PlanTotals {
    pub items: usize,
    pub pieces: usize,
    pub chars: usize,
    /// The requests to send, their characters and their typical answer times.
    pub work: Workload,
    pub cost: f64,
}

impl PlanTotals {
    /// How long sending the work takes at the configuration's limits.
    pub fn estimate(&self, cfg: &Config) -> Estimate {
        estimate::estimate(&self.work, &pace(cfg))
    }
}

/// The limits of a configuration, as the estimate takes them.
fn pace(cfg: &Config) -> Pace {
    Pace {
        rpm: cfg.rpm.planned(),
        cpm: cfg.cpm,
        concurrency: cfg.concurrency,
    }
}

/// Where the plan goes: the table or the JSON document.
enum Render<W: Write> {
    Table(W),
    Json(PlanJsonWriter<W>),
}

/// Width of the table's key column (longer keys push their row out).
const KEY_WIDTH: usize = 24;

impl<W: Write> Render<W> {
    /// The table, with its header written.
    fn table(mut w: W) -> std::io::Result<Self> {
        writeln!(
            w,
            "{:<KEY_WIDTH$}  {:>6}  {:>9}  {:>8}  OUTPUT",
            "KEY", "PIECES", "CHARS", "REQUESTS"
        )?;
        Ok(Render::Table(w))
    }

    fn item(&mut self, row: &PlanRow<'_>) -> std::io::Result<()> {
        match self {
            Render::Table(w) => writeln!(
                w,
                "{:<KEY_WIDTH$}  {:>6}  {:>9}  {:>8}  {}",
                row.key, row.pieces, row.characters, row.requests, row.output
            ),
            Render::Json(json) => json.item(row),
        }
    }

    fn end(self, cfg: &Config, totals: &PlanTotals) -> std::io::Result<()> {
        let mut w = match self {
            Render::Table(mut w) => {
                w.write_all(render_plan_totals(cfg, totals).as_bytes())?;
                w
            }
            Render::Json(json) => json.end(cfg, totals)?,
        };
        w.flush()
    }
}

/// The closing lines of `plan`.
fn render_plan_totals(cfg: &Config, t: &PlanTotals) -> String {
    format!(
        "\n{} items, {} pieces, {} characters\n{} requests to send ({} characters; {} pieces already have audio or repeat)\nestimated cost: ${:.2} (at ${:.2} per million characters for {})\nestimated time: {}\nout: {}\n",
        t.items,
        t.pieces,
        t.chars,
        t.work.requests,
        t.work.characters,
        t.pieces - t.work.requests,
        t.cost,
        plan::price_per_million_chars(&cfg.voice.model),
        cfg.voice.model,
        render_estimate(cfg, &t.estimate(cfg), &t.work),
        cfg.out.display(),
    )
}

/// The estimated time and what holds it.
fn render_estimate(cfg: &Config, e: &Estimate, work: &Workload) -> String {
    let time = format_seconds(e.seconds);
    match e.bound {
        Bound::Rpm | Bound::Cpm => format!(
            "at least {time} at {} requests per minute{}",
            cfg.rpm,
            cfg.cpm
                .map(|c| format!(" and {c} characters per minute"))
                .unwrap_or_default(),
        ),
        Bound::Concurrency => format!(
            "about {time} with -j {} (answers assumed to take {:.1} s each on average)",
            cfg.concurrency,
            work.answer_seconds / work.requests.max(1) as f64,
        ),
    }
}

fn format_seconds(seconds: f64) -> String {
    let total = seconds.ceil() as u64;
    format!(
        "{}h{:02}m{:02}s",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}
