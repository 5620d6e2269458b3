//! Items → the requests they need: effective settings per item, pieces under `--max-chars`, and
//! fingerprints. Pure functions; `plan` prints these, `run` syncs them into the queue.

use std::sync::Arc;

use sha2::{Digest, Sha256};

pub mod chunk;
pub mod estimate;

use crate::domain::AudioFormat;
pub use crate::domain::{PlannedItem, PlannedPiece, VoiceSettings};
use crate::manifest::{Item, Manifest, ManifestError, Overrides};

/// An item that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Its text needs several requests in a format whose pieces cannot be joined yet.
    #[error(
        "line {line}: item `{key}` needs {pieces} requests, and joining {format} pieces is not supported yet; raise --max-chars (at most 4096) or use mp3, aac, wav or pcm"
    )]
    CannotJoin {
        line: u64,
        key: String,
        pieces: usize,
        format: AudioFormat,
    },
}

/// The settings an item is spoken with: the defaults, with the item's overrides applied.
pub fn settings_of(item: &Item, defaults: &Arc<VoiceSettings>) -> Arc<VoiceSettings> {
    let o = &item.overrides;
    if *o == Overrides::default() {
        return Arc::clone(defaults);
    }
    Arc::new(VoiceSettings {
        model: o.model.clone().unwrap_or_else(|| defaults.model.clone()),
        voice: o.voice.clone().unwrap_or_else(|| defaults.voice.clone()),
        format: o.audio_format.unwrap_or(defaults.format),
        speed: o.speed.unwrap_or(defaults.speed),
        instructions: o
            .instructions
            .clone()
            .or_else(|| defaults.instructions.clone()),
    })
}

/// Checks that an item can be planned, without planning it: the check pass of a manifest runs
/// this, and only the sync plans (so every item is planned once per run). Splits the text only
/// in the rare case that decides it (a long text in a format that cannot be joined).
pub fn check_item(
    item: &Item,
    settings: &VoiceSettings,
    max_chars: usize,
) -> Result<(), PlanError> {
    if settings.format.can_join() || chunk::char_count(&item.text) <= max_chars {
        return Ok(());
    }
    match chunk::split(&item.text, max_chars).len() {
        0 | 1 => Ok(()),
        pieces => Err(cannot_join(item, pieces, settings.format)),
    }
}

fn cannot_join(item: &Item, pieces: usize, format: AudioFormat) -> PlanError {
    PlanError::CannotJoin {
        line: item.line,
        key: item.key.clone(),
        pieces,
        format,
    }
}

/// Checks the whole manifest in one streaming pass (its own checks, and that every item can be
/// planned): every input error surfaces here, before anything is written or sent. Warns once
/// if `--instructions` reach no item's model.
pub fn check_manifest(
    manifest: &Manifest,
    defaults: &Arc<VoiceSettings>,
    max_chars: usize,
) -> Result<(), ManifestError> {
    let mut instructions_sent = false;
    manifest.check(|item| {
        let settings = settings_of(item, defaults);
        check_item(item, &settings, max_chars)?;
        instructions_sent |= settings.sent_instructions().is_some();
        Ok::<(), PlanError>(())
    })?;
    if defaults.instructions.is_some() && !instructions_sent {
        tracing::warn!(
            "--instructions are only sent to gpt-4o-mini-tts models; {} ignores them",
            defaults.model
        );
    }
    Ok(())
}

/// Plans one item: its settings, pieces and output name. Fails (naming the item) when it would
/// need joining pieces of a format that cannot be joined yet.
pub fn plan_item(
    seq: usize,
    item: &Item,
    defaults: &Arc<VoiceSettings>,
    max_chars: usize,
) -> Result<PlannedItem, PlanError> {
    let settings = settings_of(item, defaults);
    let pieces: Vec<PlannedPiece> = chunk::split(&item.text, max_chars)
        .into_iter()
        .map(|text| PlannedPiece {
            fingerprint: piece_fingerprint(&settings, &text),
            characters: chunk::char_count(&text),
            text,
        })
        .collect();
    if pieces.len() > 1 && !settings.format.can_join() {
        return Err(cannot_join(item, pieces.len(), settings.format));
    }
    let output = if item.has_extension {
        item.output.clone()
    } else {
        format!("{}.{}", item.output, settings.format.extension())
    };
    let fingerprint = item_fingerprint(settings.format, &pieces);
    Ok(PlannedItem {
        key: item.key.clone(),
        title: item.title.clone(),
        seq,
        output,
        characters: pieces.iter().map(|p| p.characters).sum(),
        settings,
        pieces,
        fingerprint,
        line: item.line,
    })
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

fn item_fingerprint(format: AudioFormat, pieces: &[PlannedPiece]) -> String {
    let mut h = Sha256::new();
    h.update(b"tts-batch item v1\0");
    h.update(format.as_str().as_bytes());
    for p in pieces {
        h.update(b"\0");
        h.update(p.fingerprint.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// US dollars per million input characters of a model, from the providers' price lists
/// (gpt-4o-mini-tts is priced per token; about $0.015 a minute comes to this). Unknown models
/// (relays) are estimated at tts-1's price.
pub fn price_per_million_chars(model: &str) -> f64 {
    if model.starts_with("tts-1-hd") {
        30.0
    } else {
        15.0
    }
}

/// Estimated cost of sending `characters` to `model`.
pub fn cost_usd(model: &str, characters: usize) -> f64 {
    characters as f64 * price_per_million_chars(model) / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(
        items: Vec<Item>,
        defaults: &VoiceSettings,
        max_chars: usize,
    ) -> Result<Vec<PlannedItem>, PlanError> {
        let defaults = Arc::new(defaults.clone());
        items
            .iter()
            .enumerate()
            .map(|(seq, item)| plan_item(seq, item, &defaults, max_chars))
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
        let planned = plan(vec![item("0001", text.trim())], &defaults(), 100).unwrap();
        assert!(planned[0].pieces.len() > 5);
        assert!(planned[0].pieces.iter().all(|p| p.characters <= 100));
        assert_eq!(planned[0].output, "0001.mp3");
    }

    #[test]
    fn flac_items_that_need_joining_are_refused() {
        let flac = VoiceSettings {
            format: AudioFormat::Flac,
            ..defaults()
        };
        let text = "Words and more words. ".repeat(20);
        let err = plan(vec![item("0007", text.trim())], &flac, 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`0007`") && err.contains("flac"), "{err}");
        assert!(plan(vec![item("0007", "Short.")], &flac, 100).is_ok());
        let long = item("0007", text.trim());
        assert!(check_item(&long, &flac, 100).is_err());
        assert!(check_item(&long, &defaults(), 100).is_ok());
    }
}
