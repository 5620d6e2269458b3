//! Piper's voices: a `.onnx` file and its `.onnx.json` beside it. `--voice` is a path to the
//! `.onnx` file, or a voice's name found in the voices folder (`--piper-voices`, else
//! `$PIPER_VOICES`, else the platform's data folder for piper voices); the `.onnx.json` gives
//! the voice's sample rate, its own length scale and its language.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The environment variable naming the voices folder.
pub const VOICES_ENV: &str = "PIPER_VOICES";
/// How deep under the voices folder voices are looked for (the layout of the voices'
/// repository, `en/en_US/joe/medium/en_US-joe-medium.onnx`, is four folders deep).
const MAX_DEPTH: usize = 5;

/// One voice, found and its config read.
#[derive(Debug, Clone, PartialEq)]
pub struct Voice {
    /// The `.onnx` file, made absolute.
    pub model: PathBuf,
    /// Its `.onnx.json`.
    pub config: PathBuf,
    /// Samples per second of what it speaks (the config's `audio.sample_rate`).
    pub rate: u32,
    /// Its own length scale at `--speed 1.0` (`inference.length_scale`, else 1.0).
    pub length_scale: f64,
    /// Its language (`language.code`, such as `en_US`), when the config says.
    pub language: Option<String>,
}

/// What can be wrong with a voice.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// No file where the voice was looked for.
    #[error("piper voice `{voice}` not found: looked for {looked}{found}")]
    NotFound {
        voice: String,
        looked: String,
        /// The voices the folder does have, if any.
        found: String,
    },
    /// The `.onnx` file cannot be read.
    #[error("{}: cannot read the piper voice: {reason}", .path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// No `.onnx.json` beside the `.onnx` file.
    #[error("{}: the piper voice has no {} beside it (a voice is the .onnx file and its .onnx.json, downloaded together)", .model.display(), .config.display())]
    NoConfig { model: PathBuf, config: PathBuf },
    /// The `.onnx.json` is not a voice's config.
    #[error("{}: not a piper voice config: {reason}", .config.display())]
    BadConfig { config: PathBuf, reason: String },
}

/// The parts of a voice's `.onnx.json` this program reads.
#[derive(Deserialize)]
struct Config {
    audio: AudioConfig,
    #[serde(default)]
    inference: Option<InferenceConfig>,
    #[serde(default)]
    language: Option<LanguageConfig>,
}

#[derive(Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Deserialize)]
struct InferenceConfig {
    #[serde(default)]
    length_scale: Option<f64>,
}

#[derive(Deserialize)]
struct LanguageConfig {
    #[serde(default)]
    code: Option<String>,
}

/// The voices folder: `flag` (`--piper-voices`), else `$PIPER_VOICES`, else the platform's
/// data folder for piper voices (`$XDG_DATA_HOME/piper/voices`, else
/// `~/.local/share/piper/voices`; `~/Library/Application Support/piper/voices` on macOS;
/// `%APPDATA%\piper\voices` on Windows).
pub fn voices_dir(flag: Option<PathBuf>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| {
        env(name)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    flag.or_else(|| set(VOICES_ENV)).or_else(|| {
        let data = if cfg!(target_os = "macos") {
            set("HOME").map(|h| h.join("Library/Application Support"))
        } else if cfg!(windows) {
            set("APPDATA")
        } else {
            set("XDG_DATA_HOME").or_else(|| set("HOME").map(|h| h.join(".local/share")))
        };
        data.map(|d| d.join("piper").join("voices"))
    })
}

/// Finds `voice` (a path to a `.onnx` file, or a voice's name or file name in `dir`) and reads
/// its config. The file must be readable and have its `.onnx.json` beside it.
pub fn resolve(voice: &str, dir: Option<&Path>) -> Result<Voice, VoiceError> {
    let mut looked = Vec::new();
    let file_name = if voice.ends_with(".onnx") {
        voice.to_owned()
    } else {
        format!("{voice}.onnx")
    };
    let path_like = voice.ends_with(".onnx") || voice.contains('/') || voice.contains('\\');
    let mut candidates = Vec::new();
    if path_like {
        candidates.push(PathBuf::from(voice));
    }
    if let Some(dir) = dir
        && !Path::new(voice).is_absolute()
    {
        candidates.push(dir.join(&file_name));
    }
    let mut found = candidates.iter().find(|c| c.is_file()).cloned();
    looked.extend(candidates.iter().map(|c| format!("`{}`", c.display())));
    if found.is_none()
        && let Some(dir) = dir
        && !voice.contains('/')
        && !voice.contains('\\')
    {
        found = list(dir)
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == file_name.as_str()));
        looked.push(format!("{file_name} anywhere under `{}`", dir.display()));
    }
    let Some(model) = found else {
        let voices = dir.map(list).unwrap_or_default();
        let found = if voices.is_empty() {
            match dir {
                Some(dir) => format!(" (`{}` holds no voices)", dir.display()),
                None => " (no voices folder: give --piper-voices DIR or set PIPER_VOICES)".into(),
            }
        } else {
            let names: Vec<String> = voices.iter().take(12).map(|p| name_of(p)).collect();
            let more = if voices.len() > 12 { ", ..." } else { "" };
            format!("; voices there: {}{more}", names.join(", "))
        };
        return Err(VoiceError::NotFound {
            voice: voice.to_owned(),
            looked: looked.join(", "),
            found,
        });
    };
    load(&model)
}

/// Reads the voice whose `.onnx` file is `model`.
pub fn load(model: &Path) -> Result<Voice, VoiceError> {
    let unreadable = |e: std::io::Error| VoiceError::Unreadable {
        path: model.to_owned(),
        reason: crate::domain::io_reason(&e),
    };
    std::fs::File::open(model).map_err(unreadable)?;
    let model = std::path::absolute(model).map_err(unreadable)?;
    let mut config = model.clone().into_os_string();
    config.push(".json");
    let config = PathBuf::from(config);
    let text = match std::fs::read_to_string(&config) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(VoiceError::NoConfig { model, config });
        }
        Err(e) => {
            return Err(VoiceError::BadConfig {
                config,
                reason: crate::domain::io_reason(&e),
            });
        }
    };
    let parsed: Config = serde_json::from_str(&text).map_err(|e| VoiceError::BadConfig {
        config: config.clone(),
        reason: e.to_string(),
    })?;
    if !(1_000..=384_000).contains(&parsed.audio.sample_rate) {
        return Err(VoiceError::BadConfig {
            config,
            reason: format!(
                "audio.sample_rate {} is not a rate",
                parsed.audio.sample_rate
            ),
        });
    }
    let length_scale = parsed
        .inference
        .and_then(|i| i.length_scale)
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 100.0)
        .unwrap_or(1.0);
    Ok(Voice {
        model,
        config,
        rate: parsed.audio.sample_rate,
        length_scale,
        language: parsed.language.and_then(|l| l.code),
    })
}

/// The `.onnx` files under `dir` (a few folders deep), sorted.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < MAX_DEPTH {
                walk(&path, depth + 1, out);
            } else if path.extension().is_some_and(|e| e == "onnx") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 0, &mut out);
    out.sort();
    out
}

/// A voice's name: its file's name without `.onnx`.
pub fn name_of(model: &Path) -> String {
    model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The voice in `dir` for a book in `language` (a BCP 47 tag such as `en-US` or `en`): one
/// whose config names that language and region, else that language. `None` if none does.
pub fn voice_for_language(dir: &Path, language: &str) -> Option<Voice> {
    let wanted = language.replace('-', "_").to_ascii_lowercase();
    let family = wanted.split('_').next().unwrap_or_default().to_owned();
    let voices: Vec<Voice> = list(dir).iter().filter_map(|p| load(p).ok()).collect();
    let code = |v: &Voice| v.language.as_deref().map(str::to_ascii_lowercase);
    voices
        .iter()
        .find(|v| code(v).as_deref() == Some(wanted.as_str()))
        .or_else(|| {
            voices
                .iter()
                .find(|v| code(v).is_some_and(|c| c.split('_').next() == Some(family.as_str())))
        })
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"audio":{"sample_rate":16000},"inference":{"length_scale":1.1},"language":{"code":"de_DE"}}"#;

    fn voice_in(dir: &Path, rel: &str, config: Option<&str>) -> PathBuf {
        let model = dir.join(rel);
        std::fs::create_dir_all(model.parent().unwrap()).unwrap();
        std::fs::write(&model, b"onnx").unwrap();
        if let Some(config) = config {
            std::fs::write(format!("{}.json", model.display()), config).unwrap();
        }
        model
    }

    #[test]
    fn a_voice_is_found_by_path_name_or_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let model = voice_in(dir.path(), "de/de_DE-thorsten-low.onnx", Some(CONFIG));
        let by_path = resolve(model.to_str().unwrap(), None).unwrap();
        assert_eq!(by_path.rate, 16_000);
        assert_eq!(by_path.length_scale, 1.1);
        assert_eq!(by_path.language.as_deref(), Some("de_DE"));
        assert_eq!(by_path.model, model);
        for name in ["de_DE-thorsten-low", "de_DE-thorsten-low.onnx"] {
            assert_eq!(resolve(name, Some(dir.path())).unwrap(), by_path, "{name}");
        }
        assert_eq!(voice_for_language(dir.path(), "de").unwrap().model, model);
        assert!(voice_for_language(dir.path(), "fr-FR").is_none());
    }

    #[test]
    fn a_missing_voice_names_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        voice_in(dir.path(), "en_US-joe-medium.onnx", Some(CONFIG));
        let error = resolve("en_US-jo-medium", Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("`en_US-jo-medium`"), "{error}");
        assert!(error.contains("en_US-jo-medium.onnx"), "{error}");
        assert!(error.contains("voices there: en_US-joe-medium"), "{error}");
        let error = resolve("joe", None).unwrap_err().to_string();
        assert!(error.contains("--piper-voices"), "{error}");
    }

    #[test]
    fn a_voice_without_its_config_or_with_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        voice_in(dir.path(), "bare.onnx", None);
        let error = resolve("bare", Some(dir.path())).unwrap_err();
        assert!(matches!(error, VoiceError::NoConfig { .. }), "{error}");
        assert!(error.to_string().contains("bare.onnx.json"), "{error}");
        voice_in(
            dir.path(),
            "odd.onnx",
            Some(r#"{"audio":{"sample_rate":0}}"#),
        );
        let error = resolve("odd", Some(dir.path())).unwrap_err();
        assert!(matches!(error, VoiceError::BadConfig { .. }), "{error}");
        voice_in(dir.path(), "junk.onnx", Some("not json"));
        assert!(matches!(
            resolve("junk", Some(dir.path())),
            Err(VoiceError::BadConfig { .. })
        ));
    }

    #[test]
    fn the_voices_folder_comes_from_the_flag_the_variable_or_the_data_folder() {
        let env = |name: &str| match name {
            "HOME" => Some("/home/u".to_owned()),
            "PIPER_VOICES" => Some("/v".to_owned()),
            _ => None,
        };
        assert_eq!(
            voices_dir(Some("/flag".into()), &env),
            Some(PathBuf::from("/flag"))
        );
        assert_eq!(voices_dir(None, &env), Some(PathBuf::from("/v")));
        let home_only = |name: &str| (name == "HOME").then(|| "/home/u".to_owned());
        let default = voices_dir(None, &home_only).unwrap();
        assert!(default.starts_with("/home/u"), "{}", default.display());
        assert!(default.ends_with("piper/voices"), "{}", default.display());
    }
}
