//! The voices of the installed `espeak-ng`: its list (`--voices`, `--voices=variant`, read
//! once per run), what `--voice` may name (an espeak language, one of its other names, an
//! OpenAI voice name; each with `+variant`), and the default voice for a book's language.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use super::program::EspeakError;

/// The voice used when nothing else is said: the OpenAI default `alloy` maps here too, and
/// a book in plain English gets it.
pub const DEFAULT_VOICE: &str = "en-us";

/// What can go wrong with a voice name or the voice list.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// `--voice` names no voice this installation has.
    #[error("unknown espeak voice `{value}`{suggestions}; `espeak-ng --voices` lists them")]
    Unknown {
        value: String,
        suggestions: Suggestions,
    },
    /// The list could not be read.
    #[error("could not read `espeak-ng --voices`: {0}")]
    List(&'static str),
    /// The program could not be run.
    #[error(transparent)]
    Program(#[from] EspeakError),
}

/// The OpenAI voice names and the espeak voice each one speaks with. Variants (`+f3`) give
/// the voices OpenAI describes as female a higher, female-sounding pitch; a variant this
/// installation lacks is dropped and the base voice kept.
const OPENAI_VOICES: &[(&str, &str)] = &[
    ("alloy", "en-us"),
    ("ash", "en-us+m3"),
    ("ballad", "en-gb+m2"),
    ("coral", "en-us+f3"),
    ("echo", "en-us+m2"),
    ("fable", "en-gb"),
    ("onyx", "en-us+m7"),
    ("nova", "en-us+f2"),
    ("sage", "en-us+f4"),
    ("shimmer", "en-us+f5"),
    ("verse", "en-us+m4"),
    ("marin", "en-gb+f3"),
    ("cedar", "en-gb+m3"),
];

/// A few voice names close to an unknown one, shown after it.
#[derive(Debug, Default)]
pub struct Suggestions(Vec<String>);

impl std::fmt::Display for Suggestions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, " (did you mean {}?)", self.0.join(", "))
    }
}

/// The voices and variants of one installation, as `espeak-ng --voices` lists them.
#[derive(Debug, Clone, Default)]
pub struct VoiceList {
    /// Language name (lowercase) → itself: what `-v` accepts directly.
    languages: BTreeMap<String, String>,
    /// Other language (lowercase, e.g. `zh`, `fr`) → (priority, language): espeak's own
    /// fallbacks, lower priority first.
    aliases: BTreeMap<String, (u32, String)>,
    /// Variant file name (lowercase) → as espeak spells it (`annie` → `Annie`): `-v` needs
    /// the exact case, a wrong one is silently ignored.
    variants: BTreeMap<String, String>,
}

impl VoiceList {
    /// Reads the output of `espeak-ng --voices` and `espeak-ng --voices=variant`.
    pub fn parse(voices: &str, variants: &str) -> Result<VoiceList, VoiceError> {
        let mut list = VoiceList::default();
        for line in voices.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(_pty), Some(language), Some(_age), Some(_name), Some(_file)) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                continue;
            };
            let language = language.to_ascii_lowercase();
            // The rest reads "(zh-cmn 5)(zh 5)": pairs of another language and a priority.
            let rest: String = fields.collect::<Vec<_>>().join(" ");
            for pair in rest.split(')') {
                let mut parts = pair.trim().trim_start_matches('(').split_whitespace();
                if let (Some(other), Some(priority)) = (parts.next(), parts.next()) {
                    let priority = priority.parse().unwrap_or(u32::MAX);
                    let entry = list
                        .aliases
                        .entry(other.to_ascii_lowercase())
                        .or_insert((priority, language.clone()));
                    if priority < entry.0 {
                        *entry = (priority, language.clone());
                    }
                }
            }
            list.languages.insert(language.clone(), language);
        }
        for line in variants.lines().skip(1) {
            // "5  variant  --/F  Annie  !v/Annie": the file's name is what `+` takes.
            if let Some(file) = line.split_whitespace().find_map(|f| f.strip_prefix("!v/")) {
                list.variants
                    .insert(file.to_ascii_lowercase(), file.to_owned());
            }
        }
        if list.languages.is_empty() {
            return Err(VoiceError::List("it listed no voices"));
        }
        Ok(list)
    }

    /// Runs the program twice to read its voices and variants (a local listing that takes
    /// milliseconds, so it runs before the runtime's work starts, with no timeout of its own).
    pub fn load(program: &Path) -> Result<VoiceList, VoiceError> {
        let voices = list_output(program, "--voices")?;
        let variants = list_output(program, "--voices=variant")?;
        VoiceList::parse(&voices, &variants)
    }

    /// The espeak voice for a `--voice` value: an OpenAI name, an espeak language or one of
    /// its other names (`zh`, `fr`), each optionally with `+variant`. Unknown: an error
    /// naming the value and the closest names.
    pub fn resolve(&self, requested: &str) -> Result<String, VoiceError> {
        let wanted = requested.trim().to_ascii_lowercase();
        if let Some((_, mapped)) = OPENAI_VOICES.iter().find(|(name, _)| *name == wanted) {
            let (base, variant) = mapped.split_once('+').unwrap_or((mapped, ""));
            return Ok(match self.variants.get(variant) {
                Some(variant) => format!("{base}+{variant}"),
                None => base.to_owned(),
            });
        }
        let (base, variant) = match wanted.split_once('+') {
            Some((base, variant)) => (base, Some(variant)),
            None => (wanted.as_str(), None),
        };
        let language = self
            .languages
            .get(base)
            .or_else(|| self.aliases.get(base).map(|(_, language)| language));
        let unknown = || VoiceError::Unknown {
            value: requested.to_owned(),
            suggestions: self.suggest(&wanted),
        };
        let language = language.ok_or_else(unknown)?;
        match variant {
            None => Ok(language.clone()),
            Some(variant) => {
                let variant = self.variants.get(variant).ok_or_else(unknown)?;
                Ok(format!("{language}+{variant}"))
            }
        }
    }

    /// The voice for a book's language tag (`en-GB`, `zh`, `fr`, `pt_BR`): the exact
    /// language, else each shorter prefix, by espeak's own names and fallbacks; `None` when
    /// espeak has no voice for it.
    pub fn voice_for_language(&self, tag: &str) -> Option<String> {
        let tag = tag.trim().replace('_', "-").to_ascii_lowercase();
        let mut prefix = tag.as_str();
        loop {
            // Plain English: the American voice, which `alloy` (the default) also speaks;
            // espeak's own preference for `en` would be British.
            if prefix == "en" {
                return Some(DEFAULT_VOICE.to_owned());
            }
            // Chinese written in either script is read as Mandarin unless a tag says
            // Cantonese; espeak's `zh` fallback already prefers `cmn`.
            if let Some(language) = self.languages.get(prefix) {
                return Some(language.clone());
            }
            if let Some((_, language)) = self.aliases.get(prefix) {
                return Some(language.clone());
            }
            match prefix.rsplit_once('-') {
                Some((shorter, _)) if !shorter.is_empty() => prefix = shorter,
                _ => return None,
            }
        }
    }

    fn suggest(&self, wanted: &str) -> Suggestions {
        let base = wanted.split('+').next().unwrap_or(wanted);
        let mut scored: Vec<(usize, &str)> = self
            .languages
            .keys()
            .chain(self.aliases.keys())
            .map(|name| (edit_distance(base, name), name.as_str()))
            .chain(
                OPENAI_VOICES
                    .iter()
                    .map(|(name, _)| (edit_distance(base, name), *name)),
            )
            .filter(|(distance, name)| *distance <= 2.max(name.len() / 3))
            .collect();
        scored.sort();
        scored.dedup_by(|a, b| a.1 == b.1);
        Suggestions(
            scored
                .into_iter()
                .take(4)
                .map(|(_, n)| n.to_owned())
                .collect(),
        )
    }
}

/// Levenshtein distance over bytes (voice names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn list_output(program: &Path, arg: &str) -> Result<String, VoiceError> {
    let output = Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| EspeakError::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(EspeakError::failed(&output.status, &output.stderr).into());
    }
    String::from_utf8(output.stdout).map_err(|_| VoiceError::List("it is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VOICES: &str = "Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  af              --/M      Afrikaans          gmw/af
 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn              (zh-cmn 5)(zh 5)
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  fr-fr           --/M      French_(France)    roa/fr               (fr 5)
 5  fr-be           --/M      French_(Belgium)   roa/fr-BE            (fr 8)
 5  pt-br           --/M      Portuguese_(Brazil) roa/pt-BR            (pt 6)
 5  pt              --/M      Portuguese_(Portugal) roa/pt               (pt-pt 5)
 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)
";
    const VARIANTS: &str =
        "Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/F      Annie              !v/Annie
 5  variant         --/F      female3            !v/f3
 5  variant         --/M      male3              !v/m3
";

    fn list() -> VoiceList {
        VoiceList::parse(VOICES, VARIANTS).unwrap()
    }

    #[test]
    fn resolves_languages_aliases_and_variants() {
        let list = list();
        assert_eq!(list.resolve("en-us").unwrap(), "en-us");
        assert_eq!(list.resolve("EN-GB").unwrap(), "en-gb");
        assert_eq!(list.resolve("cmn").unwrap(), "cmn");
        assert_eq!(list.resolve("zh").unwrap(), "cmn");
        assert_eq!(list.resolve("fr").unwrap(), "fr-fr");
        assert_eq!(list.resolve("en").unwrap(), "en-gb");
        assert_eq!(list.resolve("en-us+annie").unwrap(), "en-us+Annie");
        assert_eq!(list.resolve("cmn+f3").unwrap(), "cmn+f3");
    }

    #[test]
    fn maps_openai_voices_to_english() {
        let list = list();
        assert_eq!(list.resolve("alloy").unwrap(), "en-us");
        assert_eq!(list.resolve("coral").unwrap(), "en-us+f3");
        assert_eq!(list.resolve("ash").unwrap(), "en-us+m3");
        // A variant this installation lacks: the base voice.
        assert_eq!(list.resolve("nova").unwrap(), "en-us");
        for (name, _) in OPENAI_VOICES {
            assert!(list.resolve(name).unwrap().starts_with("en-"), "{name}");
        }
    }

    #[test]
    fn unknown_voice_names_the_value_and_suggests() {
        let list = list();
        let error = list.resolve("en-uss").unwrap_err().to_string();
        assert!(error.contains("`en-uss`"), "{error}");
        assert!(error.contains("en-us"), "{error}");
        let error = list.resolve("en-us+nosuch").unwrap_err().to_string();
        assert!(error.contains("`en-us+nosuch`"), "{error}");
        let error = list.resolve("klingon-x").unwrap_err().to_string();
        assert!(!error.contains("did you mean"), "{error}");
        assert!(matches!(list.resolve(""), Err(VoiceError::Unknown { .. })));
    }

    #[test]
    fn language_tags_pick_voices() {
        let list = list();
        assert_eq!(list.voice_for_language("en").as_deref(), Some("en-us"));
        assert_eq!(list.voice_for_language("en-GB").as_deref(), Some("en-gb"));
        assert_eq!(list.voice_for_language("en-AU").as_deref(), Some("en-us"));
        assert_eq!(list.voice_for_language("zh").as_deref(), Some("cmn"));
        assert_eq!(
            list.voice_for_language("zh-Hant-TW").as_deref(),
            Some("cmn")
        );
        assert_eq!(list.voice_for_language("zh-yue").as_deref(), Some("yue"));
        assert_eq!(list.voice_for_language("fr").as_deref(), Some("fr-fr"));
        assert_eq!(list.voice_for_language("fr-BE").as_deref(), Some("fr-be"));
        assert_eq!(list.voice_for_language("pt_BR").as_deref(), Some("pt-br"));
        assert_eq!(list.voice_for_language("xx-YY"), None);
        assert_eq!(list.voice_for_language(""), None);
    }

    #[test]
    fn real_voice_list_has_the_common_voices() {
        let program = super::super::program::locate(std::env::var_os("PATH"))
            .expect("espeak-ng is installed for these tests");
        let list = VoiceList::load(&program).unwrap();
        for voice in ["en-us", "en-gb", "cmn", "fr", "de"] {
            list.resolve(voice).unwrap();
        }
        assert_eq!(list.resolve("coral").unwrap(), "en-us+f3");
        assert_eq!(list.voice_for_language("zh").as_deref(), Some("cmn"));
    }
}
