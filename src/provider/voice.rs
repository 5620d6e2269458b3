//! Who speaks in a run or a plan, set up and checked before anything is written: with
//! `--provider espeak`, the program is found, its voices read, the default `--voice` turned
//! into the espeak voice it names, and every item's voice and format checked against them;
//! with `--provider piper`, the program is found and the voice files of the default voice and
//! of every item's; with OpenAI's API, the warning of a model that is shut down (`Config::shutdown_notice`). `run`
//! and `plan` both use it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::domain::{ProviderKind, VoiceSettings};
use crate::error::Error;
use crate::manifest::Manifest;
use crate::plan;
use crate::provider::espeak::Espeak;
use crate::provider::piper::{self, Piper};

/// What setting up a local voice needs of the run's settings, and no more: the default voice
/// (resolved in place), whether the user named it, the time a piece may take, and for piper
/// the processes to keep and the voices folder given.
pub struct VoiceChoice<'a> {
    pub provider: ProviderKind,
    pub voice: &'a mut VoiceSettings,
    pub voice_given: bool,
    pub timeout: Duration,
    pub concurrency: usize,
    pub piper_voices: Option<PathBuf>,
}

impl<'a> VoiceChoice<'a> {
    /// What setting up a local voice needs of the run's settings; the default voice is
    /// resolved in place.
    pub fn of(cfg: &'a mut Config) -> Self {
        VoiceChoice {
            provider: cfg.provider,
            voice: &mut cfg.voice,
            voice_given: cfg.voice_given,
            timeout: cfg.timeout,
            concurrency: cfg.concurrency,
            piper_voices: cfg.piper_voices.clone(),
        }
    }
}

/// With `--provider espeak`: finds the program on `PATH`, reads its voices, and resolves the
/// default voice (an OpenAI name becomes the English voice it maps to; with no `--voice`, an
/// EPUB's language picks it). A missing program or an unknown voice is bad input (exit 2).
/// `None` for the other voices.
pub fn load_espeak(
    choice: &mut VoiceChoice<'_>,
    manifest: &Manifest,
) -> Result<Option<Espeak>, Error> {
    if choice.provider != ProviderKind::Espeak {
        return Ok(None);
    }
    let (voice_given, settings) = (choice.voice_given, &mut *choice.voice);
    let espeak = Espeak::load(std::env::var_os("PATH"), choice.timeout)
        .map_err(|e| Error::input(e.to_string()))?;
    let language = manifest
        .metadata()
        .and_then(|book| book.language.as_deref());
    let by_language = match language {
        Some(tag) if !voice_given => {
            let voice = espeak.voices().voice_for_language(tag);
            match &voice {
                Some(voice) => tracing::info!("the book's language is {tag}: voice {voice}"),
                None => tracing::warn!(
                    "the book's language is {tag}, and espeak-ng has no voice for it: voice {}",
                    settings.voice
                ),
            }
            voice
        }
        _ => None,
    };
    settings.voice = match by_language {
        Some(voice) => voice,
        None => espeak
            .voices()
            .resolve(&settings.voice)
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
    check_items(manifest, input, defaults, |s| espeak.check(s))
}

/// Checks every item's settings against what piper can do (its voice file and config, its
/// format), naming the line of the first that it cannot.
pub fn check_piper_items(
    manifest: &Manifest,
    input: &Path,
    defaults: &Arc<VoiceSettings>,
    piper: &Piper,
) -> Result<(), Error> {
    check_items(manifest, input, defaults, |s| piper.check(s))
}

/// Runs `check` on every item's settings, naming the line of the first it refuses.
fn check_items<E: std::fmt::Display>(
    manifest: &Manifest,
    input: &Path,
    defaults: &Arc<VoiceSettings>,
    check: impl Fn(&VoiceSettings) -> Result<(), E>,
) -> Result<(), Error> {
    for item in manifest.items().map_err(Error::input)? {
        let item = item.map_err(Error::input)?;
        check(&plan::settings_of(&item, defaults)).map_err(|e| {
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

/// With `--provider espeak`, each item's voice by its language: with no `--voice`, a manifest
/// that does not state its language (an EPUB's `dc:language` already chose the default voice)
/// has each item's language detected from its text, and an item in another language than the
/// default voice's is spoken by the voice of its own. With a `--voice`, one warning when an
/// item's script plainly is not the one the voice reads.
#[derive(Debug, Clone)]
pub struct ItemVoices {
    voices: Option<crate::provider::espeak::VoiceList>,
    default: String,
    pick: bool,
    warned: bool,
}

impl ItemVoices {
    /// `default` is the run's voice, `voice_given` whether the user named it.
    pub fn new(
        default: &str,
        voice_given: bool,
        manifest: &Manifest,
        espeak: Option<&Espeak>,
    ) -> Self {
        let stated = manifest
            .metadata()
            .and_then(|book| book.language.as_deref())
            .is_some();
        ItemVoices {
            voices: espeak.map(|e| e.voices().clone()),
            default: default.to_string(),
            pick: !voice_given && !stated,
            warned: !voice_given,
        }
    }

    /// Sets the item's voice from its language where it should have its own (see above).
    pub fn apply(&mut self, item: &mut crate::manifest::Item) {
        let Some(voices) = &self.voices else {
            return;
        };
        if item.overrides.voice.is_some() {
            return;
        }
        if self.pick {
            let voice = crate::manifest::language::detect(&item.text)
                .and_then(|tag| voices.voice_for_language(&tag));
            if let Some(voice) = voice.filter(|v| *v != self.default) {
                item.overrides.voice = Some(voice);
            }
        } else if !self.warned
            && let Some(text_script) = crate::manifest::language::script(&item.text)
            && let Some(voice_script) = crate::manifest::language::script_of_language(&self.default)
            && text_script != voice_script
        {
            self.warned = true;
            tracing::warn!(
                "item `{}` is written in {text_script} script, and --voice {} reads {voice_script}: \
                 leave --voice out to have the text's language pick the voice",
                item.key,
                self.default
            );
        }
    }
}

/// With `--provider piper`: finds the program on `PATH` and the default voice (`--voice`: a
/// `.onnx` file or a name in the voices folder; with none, the voices folder's voice for an
/// EPUB's language, else its only voice), which `cfg` then names by its `.onnx` file's absolute
/// path. A missing program or voice is bad input (exit 2). `None` for other providers.
pub fn load_piper(
    choice: &mut VoiceChoice<'_>,
    manifest: &Manifest,
) -> Result<Option<Piper>, Error> {
    if choice.provider != ProviderKind::Piper {
        return Ok(None);
    }
    let dir = piper::voices::voices_dir(choice.piper_voices.clone(), &crate::config::env);
    let piper = Piper::load(
        std::env::var_os("PATH"),
        dir,
        choice.timeout,
        choice.concurrency,
    )
    .map_err(|e| Error::input(e.to_string()))?;
    let voice = if choice.voice_given {
        piper.resolve(&choice.voice.voice)
    } else {
        default_piper_voice(&piper, manifest)?
    }
    .map_err(|e| Error::input(format!("--voice: {e}")))?;
    tracing::info!("piper voice {} ({} Hz)", voice.model.display(), voice.rate);
    choice.voice.voice = voice.model.display().to_string();
    Ok(Some(piper))
}

/// The voice of a run without `--voice`: the one for an EPUB's language, else the voices
/// folder's only voice; several and no language is a question only the user can answer.
fn default_piper_voice(
    piper: &Piper,
    manifest: &Manifest,
) -> Result<Result<piper::Voice, piper::VoiceError>, Error> {
    let Some(dir) = piper.voices_dir() else {
        return Err(Error::input(format!(
            "--provider piper needs --voice (a voice's .onnx file) or a voices folder (--piper-voices DIR or PIPER_VOICES); {}",
            piper::INSTALL_HINT
        )));
    };
    let language = manifest
        .metadata()
        .and_then(|book| book.language.as_deref());
    if let Some(tag) = language
        && let Some(voice) = piper::voices::voice_for_language(dir, tag)
    {
        tracing::info!(
            "the book's language is {tag}: voice {}",
            voice.model.display()
        );
        return Ok(Ok(voice));
    }
    let voices = piper::voices::list(dir);
    match voices.as_slice() {
        [only] => Ok(piper::voices::load(only)),
        [] => Err(Error::input(format!(
            "--provider piper: no --voice given and `{}` holds no voices; {}",
            dir.display(),
            piper::INSTALL_HINT
        ))),
        several => {
            let names: Vec<String> = several.iter().map(|p| piper::voices::name_of(p)).collect();
            Err(Error::input(format!(
                "--provider piper: no --voice given; choose one of the voices in `{}`: {}",
                dir.display(),
                names.join(", ")
            )))
        }
    }
}
