//! Items → the requests they need: effective settings per item, pieces under `--max-chars`, and
//! fingerprints. Pure functions; `plan` prints these, `run` syncs them into the queue.

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub mod chunk;
pub mod estimate;
pub mod prices;
pub mod tokens;

use crate::domain::{AudioFormat, ESPEAK_MODEL, PIPER_MODEL};
pub use crate::domain::{PlannedItem, PlannedPiece, VoiceSettings};
use crate::manifest::{Item, Manifest, ManifestError, Overrides};

/// The settings an item is spoken with: the defaults, with the item's overrides applied.
pub fn settings_of(item: &Item, defaults: &Arc<VoiceSettings>) -> Arc<VoiceSettings> {
    let o = &item.overrides;
    if *o == Overrides::default() {
        return Arc::clone(defaults);
    }
    Arc::new(VoiceSettings {
        // A row's `model` means nothing to espeak-ng or piper, which have none.
        model: match &o.model {
            Some(model) if defaults.model != ESPEAK_MODEL && defaults.model != PIPER_MODEL => {
                model.clone()
            }
            _ => defaults.model.clone(),
        },
        voice: o.voice.clone().unwrap_or_else(|| defaults.voice.clone()),
        format: o.audio_format.unwrap_or(defaults.format),
        speed: o.speed.unwrap_or(defaults.speed),
        instructions: o
            .instructions
            .clone()
            .or_else(|| defaults.instructions.clone()),
    })
}

/// Checks the whole manifest in one streaming pass: every input error surfaces here, before
/// anything is written or sent. Pieces of every format join, so any item can be planned: items
/// are checked, not planned. Warns once if `--instructions` reach no item's model. Returns the
/// number of items and their characters.
pub fn check_manifest(
    manifest: &Manifest,
    defaults: &Arc<VoiceSettings>,
) -> Result<(usize, usize), ManifestError> {
    let mut instructions_sent = false;
    let mut characters = 0usize;
    let items = manifest.check(|item| {
        characters = characters.saturating_add(chunk::char_count(&item.text));
        let settings = settings_of(item, defaults);
        instructions_sent |= settings.sent_instructions().is_some();
        Ok::<_, std::convert::Infallible>(output_of(item, &settings))
    })?;
    if defaults.instructions.is_some() && !instructions_sent {
        tracing::warn!(
            "--instructions are only sent to gpt-4o-mini-tts models; {} ignores them",
            defaults.model
        );
    }
    Ok((items, characters))
}

/// Plans one item: its settings, pieces (under `max_chars` and the model's token limit, keeping
/// the item's `previous` pieces from the queue where its text still holds them) and output name,
/// and the fingerprint of its file, which `pause_ms` between its pieces is part of.
pub fn plan_item(
    seq: usize,
    item: &Item,
    defaults: &Arc<VoiceSettings>,
    max_chars: usize,
    pause_ms: u64,
    previous: &[String],
) -> PlannedItem {
    let settings = settings_of(item, defaults);
    let pieces: Vec<PlannedPiece> = tokens::split(
        &item.text,
        max_chars,
        tokens::limit(&settings.model),
        previous,
    )
    .into_iter()
    .map(|text| PlannedPiece {
        fingerprint: piece_fingerprint(&settings, &text),
        characters: chunk::char_count(&text),
        text,
    })
    .collect();
    let output = output_of(item, &settings);
    let fingerprint = item_fingerprint(settings.format, pause_ms, &pieces);
    PlannedItem {
        key: item.key.clone(),
        title: item.title.clone(),
        seq,
        output,
        characters: pieces.iter().map(|p| p.characters).sum(),
        settings,
        pieces,
        fingerprint,
        line: item.line,
    }
}

/// An item's file relative to `--out`, extension included: a CSV `output` cell as the user
/// wrote it, else the name from its key or title plus the format's extension, shortened if it
/// would be too long for the file system (see [`crate::manifest::fit_file_name`]).
pub fn output_of(item: &Item, settings: &VoiceSettings) -> String {
    if item.has_extension {
        item.output.clone()
    } else {
        crate::manifest::fit_file_name(&item.output, settings.format.extension())
    }
}

/// The fingerprint of a piece: its text and every setting that changes its audio. Instructions
/// count only where they are sent; a speed of 1 and none are the same request.
pub fn piece_fingerprint(s: &VoiceSettings, text: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        "tts-batch piece v1",
        &s.model,
        &s.voice,
        s.format.as_str(),
        &format!("{:.4}", s.speed),
        s.sent_instructions().unwrap_or(""),
        text,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// The fingerprint of an item's file: its format, its pieces in order, and the pause between
/// them where there is one (so an item of one piece, or with no pause, keeps the fingerprint it
/// had before pauses existed).
fn item_fingerprint(format: AudioFormat, pause_ms: u64, pieces: &[PlannedPiece]) -> String {
    let mut h = Sha256::new();
    h.update(b"tts-batch item v1\0");
    h.update(format.as_str().as_bytes());
    if pause_ms > 0 && pieces.len() > 1 {
        h.update(format!("\0pause {pause_ms}").as_bytes());
    }
    for p in pieces {
        h.update(b"\0");
        h.update(p.fingerprint.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Estimated cost of sending `characters` to `model` at `base_url`, from the one price table
/// (`prices.rs`): `None` when the model's price is not known.
pub fn cost_usd(model: &str, base_url: &str, characters: usize) -> Option<f64> {
    prices::estimate_usd(model, base_url, characters)
}

/// Seconds of speech a text of `characters` takes, for estimates made before any audio exists:
/// 15 characters a second, a reader's pace in English at speed 1.
pub fn speech_seconds(characters: usize, speed: f64) -> f64 {
    characters as f64 / 15.0 / speed.max(0.25)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(items: Vec<Item>, defaults: &VoiceSettings, max_chars: usize) -> Vec<PlannedItem> {
        let defaults = Arc::new(defaults.clone());
        items
            .iter()
            .enumerate()
            .map(|(seq, item)| plan_item(seq, item, &defaults, max_chars, 0, &[]))
            .collect()
    }

    fn defaults() -> VoiceSettings {
        VoiceSettings {
            model: "tts-1".into(),
            voice: "alloy".into(),
            format: AudioFormat::Mp3,
            speed: 1.0,
            instructions: None,
        }
    }

    fn item(key: &str, text: &str) -> Item {
        Item {
            key: key.into(),
            title: None,
            text: text.into(),
            overrides: Overrides::default(),
            output: key.into(),
            has_extension: false,
            line: 1,
            replacements: 0,
        }
    }

    #[test]
    fn fingerprints_follow_text_and_settings_only() {
        let d = defaults();
        let a = piece_fingerprint(&d, "Hello.");
        assert_eq!(a, piece_fingerprint(&d, "Hello."));
        assert_ne!(a, piece_fingerprint(&d, "Hello!"));
        let nova = VoiceSettings {
            voice: "nova".into(),
            ..d.clone()
        };
        assert_ne!(a, piece_fingerprint(&nova, "Hello."));
        // tts-1 does not take instructions: they do not change its audio.
        let told = VoiceSettings {
            instructions: Some("whisper".into()),
            ..d.clone()
        };
        assert_eq!(a, piece_fingerprint(&told, "Hello."));
        let mini = VoiceSettings {
            model: "gpt-4o-mini-tts".into(),
            ..told
        };
        let mini_plain = VoiceSettings {
            instructions: None,
            ..mini.clone()
        };
        assert_ne!(
            piece_fingerprint(&mini, "Hello."),
            piece_fingerprint(&mini_plain, "Hello.")
        );
    }

    #[test]
    fn long_items_split_and_output_gets_the_extension() {
        let text = "One sentence here. ".repeat(50);
        let planned = plan(vec![item("0001", text.trim())], &defaults(), 100);
        assert!(planned[0].pieces.len() > 5);
        assert!(planned[0].pieces.iter().all(|p| p.characters <= 100));
        assert_eq!(planned[0].output, "0001.mp3");
    }

    #[test]
    fn every_format_joins_and_a_pause_is_part_of_the_file() {
        let defaults = Arc::new(VoiceSettings {
            format: AudioFormat::Flac,
            ..defaults()
        });
        let text = "Words and more words. ".repeat(20);
        let long = item("0007", text.trim());
        let planned = plan_item(0, &long, &defaults, 100, 0, &[]);
        assert!(planned.pieces.len() > 1);
        let paused = plan_item(0, &long, &defaults, 100, 300, &[]);
        assert_ne!(
            planned.fingerprint, paused.fingerprint,
            "the pause changes the file"
        );
        assert_eq!(
            planned.pieces, paused.pieces,
            "and not the pieces: nothing is asked for again"
        );
        // One piece has no pause to change.
        let short = item("0008", "Short.");
        assert_eq!(
            plan_item(0, &short, &defaults, 100, 0, &[]).fingerprint,
            plan_item(0, &short, &defaults, 100, 300, &[]).fingerprint
        );
    }
}
