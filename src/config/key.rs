//! The API key: where it is read from, and the type that never prints it.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, EnvLookup};
use crate::domain::io_reason;

/// Where the API key is read from. The key itself is never a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    File(PathBuf),
}

/// The API key. Its `Debug` never shows it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, for the Authorization header and for redaction only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl Config {
    /// The key a run sends, if any: a loopback base URL (a local server) needs none, so with no
    /// key set there it is `None` and no `Authorization` header is sent. A key that is named
    /// but unusable (an unreadable `--api-key-file`, an empty variable) is still an error.
    pub fn optional_api_key(&self, env: EnvLookup<'_>) -> Result<Option<ApiKey>, ConfigError> {
        let loopback = crate::plan::prices::is_loopback(&self.base_url);
        // Only the default variable may be absent: a key named by `--api-key-env` is wanted.
        if let KeySource::Env(name) = &self.key_source
            && loopback
            && name == super::DEFAULT_KEY_ENV
            && env(name).is_none()
        {
            return Ok(None);
        }
        self.api_key(env).map(Some)
    }

    /// Reads the transcription key (SPEC §11): `None` for a loopback server when there is
    /// none to read.
    pub fn verify_key(&self, env: EnvLookup<'_>) -> Result<Option<ApiKey>, ConfigError> {
        let mut speech = self.clone();
        speech.key_source = self.verify.key_source.clone();
        match speech.api_key(env) {
            Ok(key) => Ok(Some(key)),
            Err(_) if self.verify.key_optional => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads the API key from where the configuration says. Missing or empty is an input error.
    pub fn api_key(&self, env: EnvLookup<'_>) -> Result<ApiKey, ConfigError> {
        let key = match &self.key_source {
            KeySource::Env(name) => env(name).ok_or_else(|| {
                ConfigError::new(format!(
                    "no API key: the environment variable {name} is not set (or use --api-key-file PATH)"
                ))
            })?,
            KeySource::File(path) => {
                warn_if_key_file_is_open(path);
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::new(format!("--api-key-file {}: {}", path.display(), io_reason(&e)))
                })?;
                text.lines().next().unwrap_or("").to_string()
            }
        };
        let key = key.trim().to_string();
        if key.is_empty() {
            let from = match &self.key_source {
                KeySource::Env(name) => format!("the environment variable {name}"),
                KeySource::File(path) => format!("the file {}", path.display()),
            };
            return Err(ConfigError::new(format!("no API key: {from} is empty")));
        }
        if key.chars().any(|c| c.is_control() || c == ' ') {
            return Err(ConfigError::new(
                "the API key contains spaces or control characters",
            ));
        }
        Ok(ApiKey(key))
    }
}

/// A key file others can read gets a warning (like ssh does for private keys).
fn warn_if_key_file_is_open(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                "the key file {} can be read by others (mode {:o}); chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            );
        }
    }
}
