//! `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
//! Prints a table, or with `--json` one JSON document (`plan_json.rs`); both stream.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Arc;

use super::plan_json::PlanJsonWriter;
use super::plan_rows::{PlanRow, PlanTotals};
use crate::book::meta::BookMeta;
use crate::config::Config;
use crate::domain::ProviderKind;
use crate::error::{Error, Outcome};
use crate::plan::estimate::{Bound, Estimate, Workload};
use crate::provider::voice;
use crate::{book, manifest, plan, queue};

/// `plan`: what a run would do. Reads the queue if there is one; writes and sends nothing.
/// Streams: one item at a time, whatever the manifest's size.
pub(super) fn plan(mut cfg: Config, json: bool) -> Result<Outcome, Error> {
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let mut choice = voice::VoiceChoice::of(&mut cfg);
    let espeak = voice::load_espeak(&mut choice, &manifest)?;
    let piper = voice::load_piper(&mut choice, &manifest)?;
    let cfg = &cfg;
    let defaults = Arc::new(cfg.voice.clone());
    let (_, characters) = plan::check_manifest(&manifest, &defaults).map_err(Error::input)?;
    if let Some(notice) = cfg.shutdown_notice(characters) {
        tracing::warn!("{notice}");
    }
    if let Some(espeak) = &espeak {
        voice::check_espeak_items(&manifest, &cfg.input, &defaults, espeak)?;
    }
    if let Some(piper) = &piper {
        voice::check_piper_items(&manifest, &cfg.input, &defaults, piper)?;
    }
    if let Some(cover) = &cfg.book.cover {
        // A run would refuse it: so does its plan.
        book::cover::Cover::load(cover).map_err(Error::input)?;
    }
    // What the queue already has: audio, and each item's pieces, which a run keeps.
    let (done, previous): (HashSet<u128>, HashMap<String, Vec<String>>) =
        match queue::open_read_only(&cfg.db) {
            Ok(conn) => (
                queue::done_pieces(&conn)?
                    .iter()
                    .filter_map(|fp| fingerprint_bits(fp))
                    .collect(),
                queue::previous_pieces(&conn, None, cfg.max_chars)?,
            ),
            Err(queue::QueueError::Missing(_)) => Default::default(),
            Err(e) => return Err(e.into()),
        };
    let lexicon = cfg.manifest.lexicon.is_some();
    let stdout = std::io::stdout();
    let out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e: std::io::Error| Error::Other(e.into());
    // What the tags and sidecar files will say, flags over the manifest's own metadata.
    let meta = match manifest.is_book() || cfg.book.format.is_some() {
        true => Some(
            crate::book::meta::resolve(&cfg.book, &manifest.book_info(), &cfg.input)
                .map_err(Error::input)?,
        ),
        false => None,
    };
    let mut render = if json {
        Render::Json(
            PlanJsonWriter::begin(
                out,
                &super::plan_json::settings(cfg, manifest.metadata(), meta.as_ref()),
            )
            .map_err(write_err)?,
        )
    } else {
        // Books list their chapters' titles, so that `plan` shows what a listener will hear.
        Render::table(
            out,
            manifest.metadata(),
            meta.as_ref(),
            manifest.is_book(),
            lexicon,
        )
        .map_err(write_err)?
    };
    let mut seen: HashSet<u128> = HashSet::new();
    let mut totals = PlanTotals::default();
    let hearing_price =
        plan::prices::transcription_per_minute(&cfg.verify.model, &cfg.verify.base_url);
    let mut voices = voice::ItemVoices::new(
        &cfg.voice.voice,
        cfg.voice_given,
        &manifest,
        espeak.as_ref(),
    );
    for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
        let mut item = item.map_err(Error::input)?;
        voices.apply(&mut item);
        let replacements = lexicon.then_some(item.replacements);
        totals.replacements += item.replacements;
        let kept = previous.get(&item.key).map_or(&[][..], Vec::as_slice);
        let item = plan::plan_item(seq, &item, &defaults, cfg.max_chars, cfg.pause_ms, kept);
        let mut item_requests = 0;
        for p in &item.pieces {
            let bits = fingerprint_bits(&p.fingerprint).unwrap_or_default();
            if !done.contains(&bits) && seen.insert(bits) {
                item_requests += 1;
                totals.work.add(&item.settings.model, p.characters);
                match plan::cost_usd(&item.settings.model, &cfg.base_url, p.characters) {
                    Some(cost) => totals.cost += cost,
                    None => totals.unpriced = Some(item.settings.model.clone()),
                }
                if cfg.verify.enabled {
                    let minutes = plan::speech_seconds(p.characters, item.settings.speed) / 60.0
                        * cfg.verify.sample;
                    totals.heard_minutes += minutes;
                    totals.hearing_cost += minutes * hearing_price;
                    totals.cost += minutes * hearing_price;
                }
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
                replacements,
                voice: (cfg.provider == ProviderKind::Espeak).then_some(&item.settings.voice),
            })
            .map_err(write_err)?;
    }
    render
        .end(cfg, &totals, manifest.left_out())
        .map_err(write_err)?;
    Ok(Outcome::Done)
}

/// The first 128 bits of a hex fingerprint: a set of these is a fifth the size of strings.
fn fingerprint_bits(hex: &str) -> Option<u128> {
    u128::from_str_radix(hex.get(..32)?, 16).ok()
}

/// Where the plan goes: the table or the JSON document.
enum Render<W: Write> {
    /// The table; `titled` adds a TITLE column (books), `lexicon` a LEXICON column (the
    /// replacements in each item).
    Table {
        w: W,
        titled: bool,
        lexicon: bool,
    },
    Json(PlanJsonWriter<W>),
}

/// Width of the table's key column (longer keys push their row out).
const KEY_WIDTH: usize = 24;

impl<W: Write> Render<W> {
    /// The table, with an EPUB's own description and the header written.
    fn table(
        mut w: W,
        book: Option<&manifest::BookMetadata>,
        meta: Option<&BookMeta>,
        titled: bool,
        lexicon: bool,
    ) -> std::io::Result<Self> {
        if let Some(book) = book {
            writeln!(w, "{}", render_book(book))?;
        }
        let details = meta.map(render_meta).unwrap_or_default();
        w.write_all(details.as_bytes())?;
        if book.is_some() || !details.is_empty() {
            writeln!(w)?;
        }
        writeln!(
            w,
            "{:<KEY_WIDTH$}  {:>6}  {:>9}  {:>8}  {}OUTPUT{}",
            "KEY",
            "PIECES",
            "CHARS",
            "REQUESTS",
            if lexicon { "LEXICON  " } else { "" },
            if titled { "  TITLE" } else { "" }
        )?;
        Ok(Render::Table { w, titled, lexicon })
    }

    fn item(&mut self, row: &PlanRow<'_>) -> std::io::Result<()> {
        match self {
            Render::Table { w, titled, lexicon } => {
                let title = match (row.title, *titled) {
                    (Some(title), true) => format!("  {title}"),
                    _ => String::new(),
                };
                let replaced = match (row.replacements, *lexicon) {
                    (Some(n), true) => format!("{n:>7}  "),
                    _ => String::new(),
                };
                let title = match row.voice {
                    Some(voice) => format!("{title}  (voice {voice})"),
                    None => title,
                };
                writeln!(
                    w,
                    "{:<KEY_WIDTH$}  {:>6}  {:>9}  {:>8}  {replaced}{}{title}",
                    row.key, row.pieces, row.characters, row.requests, row.output
                )
            }
            Render::Json(json) => json.item(row),
        }
    }

    fn end(
        self,
        cfg: &Config,
        totals: &PlanTotals,
        left_out: &[manifest::LeftOut],
    ) -> std::io::Result<()> {
        let mut w = match self {
            Render::Table { mut w, .. } => {
                w.write_all(render_left_out(left_out).as_bytes())?;
                w.write_all(render_plan_totals(cfg, totals).as_bytes())?;
                if cfg.manifest.lexicon.is_some() {
                    writeln!(w, "lexicon: {} replacements", totals.replacements)?;
                }
                w
            }
            Render::Json(json) => json.end(cfg, totals, left_out)?,
        };
        w.flush()
    }
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

/// The book's fields beyond title, author and cover, as the tags and sidecar files will carry
/// them (flags over the manifest's), a line each; nothing for fields that are not set.
fn render_meta(meta: &BookMeta) -> String {
    let mut lines = String::new();
    let mut line = |name: &str, value: &str| lines.push_str(&format!("  {name}: {value}\n"));
    if let Some(narrator) = &meta.narrator {
        line("narrator", narrator);
    }
    if let Some(series) = &meta.series {
        line("series", &series.grouping());
    }
    if let Some(publisher) = &meta.publisher {
        line("publisher", publisher);
    }
    if let Some(date) = &meta.date {
        line("date", date);
    }
    if let Some(isbn) = &meta.isbn {
        line("isbn", isbn);
    }
    if let Some(description) = &meta.description {
        const SHOWN: usize = 72;
        let flat = description.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = flat.chars().count();
        let shown: String = flat.chars().take(SHOWN).collect();
        let more = if chars > SHOWN { "…" } else { "" };
        line(
            "description",
            &format!("{shown}{more} ({chars} characters)"),
        );
    }
    lines
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

/// The closing lines of `plan`.
fn render_plan_totals(cfg: &Config, t: &PlanTotals) -> String {
    if cfg.provider.is_local() {
        let program = match cfg.provider {
            ProviderKind::Piper => "piper",
            _ => "espeak-ng",
        };
        return format!(
            "\n{} items, {} pieces, {} characters\n{} pieces to speak ({} characters; {} pieces already have audio or repeat)\nestimated cost: ${:.2} ({program} runs on this machine, {} at once; --model, --rpm and --cpm do not apply)\nestimated time: {}\nvoice: {}\nout: {}\n",
            t.items,
            t.pieces,
            t.chars,
            t.work.requests,
            t.work.characters,
            t.pieces - t.work.requests,
            t.cost,
            cfg.concurrency,
            render_estimate(cfg, &t.estimate(cfg), &t.work),
            cfg.voice.voice,
            cfg.out.display(),
        ) + &verification_line(cfg, t);
    }
    format!(
        "\n{} items, {} pieces, {} characters\n{} requests to send ({} characters; {} pieces already have audio or repeat)\nestimated cost: {}\nestimated time: {}\nout: {}\n",
        t.items,
        t.pieces,
        t.chars,
        t.work.requests,
        t.work.characters,
        t.pieces - t.work.requests,
        render_cost(cfg, t),
        render_estimate(cfg, &t.estimate(cfg), &t.work),
        cfg.out.display(),
    ) + &token_limit_line(cfg)
        + &verification_line(cfg, t)
}

/// With `--verify`: what hearing the pieces back costs (SPEC §11).
fn verification_line(cfg: &Config, t: &PlanTotals) -> String {
    if !cfg.verify.enabled {
        return String::new();
    }
    let price = plan::prices::transcription_per_minute(&cfg.verify.model, &cfg.verify.base_url);
    format!(
        "verification: about {:.1} minutes of audio heard back by {} at {}: ${:.2} (at ${price:.3} a minute, prices of {}; included above)\n",
        t.heard_minutes,
        cfg.verify.model,
        cfg.verify.base_url,
        t.hearing_cost,
        plan::prices::PRICES_READ,
    )
}

/// The estimated cost and the price it rests on: unknown, and said so, for a model the price
/// table does not know.
fn render_cost(cfg: &Config, t: &PlanTotals) -> String {
    use plan::prices;
    if let Some(model) = &t.unpriced {
        return format!(
            "unknown (no published price for `{model}` in the price table of {}; the known part comes to ${:.2})",
            prices::PRICES_READ,
            t.cost
        );
    }
    match prices::price(&cfg.voice.model, &cfg.base_url) {
        Some(price @ prices::Price::PerMillionTokens(_)) => format!(
            "${:.2} (at {} for {}, prices of {}; assuming {} characters a second of speech, {} audio tokens a second, {} characters a text token)",
            t.cost,
            price.describe(),
            cfg.voice.model,
            prices::PRICES_READ,
            prices::assume::CHARS_PER_SECOND,
            prices::assume::AUDIO_TOKENS_PER_SECOND,
            prices::assume::CHARS_PER_TEXT_TOKEN,
        ),
        Some(price) => format!(
            "${:.2} (at {} for {})",
            t.cost,
            price.describe(),
            cfg.voice.model
        ),
        None => format!("${:.2}", t.cost),
    }
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
