//! Who speaks in a run or a plan, set up and checked before anything is written: with
//! `--provider espeak`, the program is found, its voices read, the default `--voice` turned
//! into the espeak voice it names, and every item's voice and format checked against them;
//! with OpenAI's API, the warning of a model that is shut down. `run` and `plan` both use it.

use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::domain::{ProviderKind, VoiceSettings};
use crate::error::Error;
use crate::manifest::Manifest;
use crate::plan;
use crate::provider::espeak::Espeak;

/// The warning of a model OpenAI shuts down (SPEC section 10), when this run or plan uses one at
/// api.openai.com: the date, the command that switches, and what switching costs.
pub(crate) fn shutdown_notice(cfg: &Config, characters: usize) -> Option<String> {
    if cfg.provider != ProviderKind::Openai {
        return None;
    }
    plan::prices::shutdown_notice(
        &cfg.voice.model,
        &cfg.base_url,
        &cfg.input,
        characters,
        plan::prices::today(),
    )
}

/// With `--provider espeak`: finds the program on `PATH`, reads its voices, and resolves the
/// default voice in `cfg` (an OpenAI name becomes the English voice it maps to; with no
/// `--voice`, an EPUB's language picks it). A missing program or an unknown voice is bad input
/// (exit 2). `None` for the API.
pub fn load_espeak(cfg: &mut Config, manifest: &Manifest) -> Result<Option<Espeak>, Error> {
    if cfg.provider != ProviderKind::Espeak {
        return Ok(None);
    }
    let espeak = Espeak::load(std::env::var_os("PATH"), cfg.timeout)
        .map_err(|e| Error::input(e.to_string()))?;
    let language = manifest
        .metadata()
        .and_then(|book| book.language.as_deref());
    let by_language = match language {
        Some(tag) if !cfg.voice_given => {
            let voice = espeak.voices().voice_for_language(tag);
            match &voice {
                Some(voice) => tracing::info!("the book's language is {tag}: voice {voice}"),
                None => tracing::warn!(
                    "the book's language is {tag}, and espeak-ng has no voice for it: voice {}",
                    cfg.voice.voice
                ),
            }
            voice
        }
        _ => None,
    };
    cfg.voice.voice = match by_language {
        Some(voice) => voice,
        None => espeak
            .voices()
            .resolve(&cfg.voice.voice)
            .map_err(|e| Error::input(format!("--voice: {e}")))?,
    };
    Ok(Some(espeak))
}

/// Checks every item's settings (a CSV row may name its own voice or format) against what
/// espeak-ng can do, naming the line of the first that it cannot.
pub fn check_espeak_items(
    manifest: &Manifest,
    input: &Path,
    defaults: &Arc<VoiceSettings>,
    espeak: &Espeak,
) -> Result<(), Error> {
    for item in manifest.items().map_err(Error::input)? {
        let item = item.map_err(Error::input)?;
        espeak
            .check(&plan::settings_of(&item, defaults))
            .map_err(|e| {
                Error::input(format!(
                    "{}: line {}: item `{}`: {e}",
                    input.display(),
                    item.line,
                    item.key
                ))
            })?;
    }
    Ok(())
}
