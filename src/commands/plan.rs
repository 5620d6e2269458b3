//! `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use crate::config::Config;
use crate::domain::ProviderKind;
use crate::error::{Error, Outcome};
use crate::run::voice;
use crate::{manifest, plan, queue};

/// `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
/// Streams: one item at a time, whatever the manifest's size.
pub(super) fn plan(mut cfg: Config) -> Result<Outcome, Error> {
    let espeak = voice::load_espeak(&mut cfg)?;
    let cfg = &cfg;
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let defaults = Arc::new(cfg.voice.clone());
    plan::check_manifest(&manifest, &defaults).map_err(Error::input)?;
    if let Some(espeak) = &espeak {
        voice::check_espeak_items(&manifest, &cfg.input, &defaults, espeak)?;
    }
    let done: HashSet<u128> = match queue::open_read_only(&cfg.db) {
        Ok(conn) => queue::done_pieces(&conn)?
            .iter()
            .filter_map(|fp| fingerprint_bits(fp))
            .collect(),
        Err(queue::QueueError::Missing(_)) => HashSet::new(),
        Err(e) => return Err(e.into()),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let key_width = 24;
    let write_err = |e: std::io::Error| Error::Other(e.into());
    if let Some(book) = manifest.metadata() {
        writeln!(out, "{}\n", render_book(book)).map_err(write_err)?;
    }
    // Books list their chapters' titles, so that `plan` shows what a listener will hear.
    let titled = manifest.is_book();
    writeln!(
        out,
        "{:<key_width$}  {:>6}  {:>9}  {:>8}  OUTPUT{}",
        "KEY",
        "PIECES",
        "CHARS",
        "REQUESTS",
        if titled { "  TITLE" } else { "" }
    )
    .map_err(write_err)?;
    let mut seen: HashSet<u128> = HashSet::new();
    let mut totals = PlanTotals::default();
    for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
        let item = item.map_err(Error::input)?;
        let item = plan::plan_item(seq, &item, &defaults, cfg.max_chars, cfg.pause_ms);
        let mut item_requests = 0;
        for p in &item.pieces {
            let bits = fingerprint_bits(&p.fingerprint).unwrap_or_default();
            if !done.contains(&bits) && seen.insert(bits) {
                item_requests += 1;
                totals.send_chars += p.characters;
                totals.cost += plan::cost_usd(&item.settings.model, p.characters);
            }
        }
        totals.items += 1;
        totals.pieces += item.pieces.len();
        totals.chars += item.characters;
        totals.requests += item_requests;
        let title = match (&item.title, titled) {
            (Some(title), true) => format!("  {title}"),
            _ => String::new(),
        };
        writeln!(
            out,
            "{:<key_width$}  {:>6}  {:>9}  {:>8}  {}{title}",
            item.key,
            item.pieces.len(),
            item.characters,
            item_requests,
            item.output
        )
        .map_err(write_err)?;
    }
    write!(out, "{}", render_left_out(manifest.left_out())).map_err(write_err)?;
    write!(out, "{}", render_plan_totals(cfg, &totals)).map_err(write_err)?;
    out.flush().map_err(write_err)?;
    Ok(Outcome::Done)
}

/// What an EPUB says about itself, in one line: the defaults of the book's tags.
fn render_book(book: &manifest::BookMetadata) -> String {
    let mut line = format!("book: {}", book.title.as_deref().unwrap_or("(no title)"));
    if !book.authors.is_empty() {
        line.push_str(&format!(", by {}", book.authors.join(", ")));
    }
    let mut details = Vec::new();
    if let Some(language) = &book.language {
        details.push(format!("language {language}"));
    }
    match &book.cover {
        Some(cover) => details.push(format!(
            "cover {}, {} KiB",
            cover.media_type,
            cover.bytes.len().div_ceil(1024)
        )),
        None => details.push("no cover".to_owned()),
    }
    format!("{line} ({})", details.join("; "))
}

/// The chapters of a book that are not read, and why.
fn render_left_out(left_out: &[manifest::LeftOut]) -> String {
    if left_out.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nleft out (--keep-front-matter keeps front and back matter):\n");
    let width = left_out.iter().map(|l| l.href.len()).max().unwrap_or(0);
    for chapter in left_out {
        let title = if chapter.title.is_empty() {
            String::new()
        } else {
            format!("\"{}\": ", chapter.title)
        };
        text.push_str(&format!(
            "  {:<width$}  {title}{}\n",
            chapter.href, chapter.reason
        ));
    }
    text
}

/// The first 128 bits of a hex fingerprint: a set of these is a fifth the size of strings.
fn fingerprint_bits(hex: &str) -> Option<u128> {
    u128::from_str_radix(hex.get(..32)?, 16).ok()
}

/// What `plan` adds up.
#[derive(Debug, Default)]
struct PlanTotals {
    items: usize,
    pieces: usize,
    chars: usize,
    requests: usize,
    send_chars: usize,
    cost: f64,
}

/// The closing lines of `plan`.
fn render_plan_totals(cfg: &Config, t: &PlanTotals) -> String {
    if cfg.provider == ProviderKind::Espeak {
        return format!(
            "\n{} items, {} pieces, {} characters\n{} pieces to speak ({} characters; {} pieces already have audio or repeat)\nestimated cost: $0.00 (espeak-ng runs on this machine, {} at once; --model, --rpm and --cpm do not apply)\nvoice: {}\nout: {}\n",
            t.items,
            t.pieces,
            t.chars,
            t.requests,
            t.send_chars,
            t.pieces - t.requests,
            cfg.concurrency,
            cfg.voice.voice,
            cfg.out.display(),
        );
    }
    let minutes_by_rpm = t.requests as f64 / cfg.rpm.planned() as f64;
    let minutes_by_cpm = cfg.cpm.map_or(0.0, |c| t.send_chars as f64 / c as f64);
    let minutes = minutes_by_rpm.max(minutes_by_cpm);
    format!(
        "\n{} items, {} pieces, {} characters\n{} requests to send ({} characters; {} pieces already have audio or repeat)\nestimated cost: ${:.2} (at ${:.2} per million characters for {})\nestimated time: at least {} at {} requests per minute{}\nout: {}\n",
        t.items,
        t.pieces,
        t.chars,
        t.requests,
        t.send_chars,
        t.pieces - t.requests,
        t.cost,
        plan::price_per_million_chars(&cfg.voice.model),
        cfg.voice.model,
        format_minutes(minutes),
        cfg.rpm,
        cfg.cpm
            .map(|c| format!(" and {c} characters per minute"))
            .unwrap_or_default(),
        cfg.out.display(),
    ) + &token_limit_line(cfg)
}

/// The request limit `plan` applied besides `--max-chars`, for a model that has one.
fn token_limit_line(cfg: &Config) -> String {
    plan::tokens::limit(&cfg.voice.model).map_or_else(String::new, |limit| {
        format!(
            "per request: at most {} characters and {limit} tokens ({}'s limit, counted in o200k)\n",
            cfg.max_chars, cfg.voice.model
        )
    })
}

fn format_minutes(minutes: f64) -> String {
    let total = (minutes * 60.0).ceil() as u64;
    format!(
        "{}h{:02}m{:02}s",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}
