//! `text`: exactly what each item sends, piece by piece, after every reading rule and the
//! lexicon. Plans the items as `run` would (same pieces, same model token limit, the pieces the
//! queue holds for an item kept where its text still has them) and prints them, or writes one
//! `DIR/<key>.txt` each; sends nothing, only reads the queue, needs no key.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use crate::cli::TextArgs;
use crate::config::Config;
use crate::error::{Error, Outcome};
use crate::{manifest, plan};

/// The line between two pieces of one item.
const SEPARATOR: &str = "---";

/// `text`: the pieces of every item (or of the `--key` items) on stdout, or in `--dir`.
pub(super) fn text(cfg: Config, args: &TextArgs) -> Result<Outcome, Error> {
    let manifest = manifest::open(&cfg.input, &cfg.manifest).map_err(Error::input)?;
    let defaults = Arc::new(cfg.voice.clone());
    plan::check_manifest(&manifest, &defaults).map_err(Error::input)?;
    let wanted: HashSet<&str> = args.keys.iter().map(String::as_str).collect();
    let mut found: HashSet<String> = HashSet::new();
    let mut items = Vec::new();
    let previous = match crate::queue::open_read_only(&cfg.db) {
        Ok(conn) => crate::queue::previous_pieces(&conn, None, cfg.max_chars)?,
        Err(crate::queue::QueueError::Missing(_)) => Default::default(),
        Err(e) => return Err(e.into()),
    };
    for (seq, item) in manifest.items().map_err(Error::input)?.enumerate() {
        let item = item.map_err(Error::input)?;
        if !wanted.is_empty() && !wanted.contains(item.key.as_str()) {
            continue;
        }
        found.insert(item.key.clone());
        let kept = previous.get(&item.key).map_or(&[][..], Vec::as_slice);
        let planned = plan::plan_item(seq, &item, &defaults, cfg.max_chars, cfg.pause_ms, kept);
        let pieces: Vec<String> = planned.pieces.into_iter().map(|p| p.text).collect();
        items.push((planned.key, planned.title, pieces));
    }
    if let Some(unknown) = args.keys.iter().find(|k| !found.contains(k.as_str())) {
        return Err(Error::input(format!(
            "--key {unknown}: no item has this key in {}",
            cfg.input.display()
        )));
    }
    match &args.dir {
        Some(dir) => write_dir(dir, &items),
        None => print(&items).map_err(anyhow::Error::from),
    }
    .map_err(Error::Other)?;
    Ok(Outcome::Done)
}

type TextItem = (String, Option<String>, Vec<String>);

/// One item's pieces, separated by a line holding only `---`.
fn pieces_text(pieces: &[String]) -> String {
    let mut out = pieces.join(&format!("\n{SEPARATOR}\n"));
    out.push('\n');
    out
}

fn print(items: &[TextItem]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, (key, title, pieces)) in items.iter().enumerate() {
        if i > 0 {
            writeln!(out)?;
        }
        match title {
            Some(title) => writeln!(out, "=== {key}: {title} ===")?,
            None => writeln!(out, "=== {key} ===")?,
        }
        out.write_all(pieces_text(pieces).as_bytes())?;
    }
    out.flush()
}

/// One `DIR/<key>.txt` per item (the key made a safe file name), each written whole.
fn write_dir(dir: &Path, items: &[TextItem]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("{}: {}", dir.display(), crate::domain::io_reason(&e)))?;
    for (key, _, pieces) in items {
        let path = dir.join(format!("{}.txt", manifest::sanitize(key)));
        let text = pieces_text(pieces);
        crate::book::files::write_if_changed(&path, |w| w.write_all(text.as_bytes()))
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), crate::domain::io_reason(&e)))?;
    }
    Ok(())
}
