//! The settings a report records for its run (`report.json`'s `settings`), written once when the
//! run begins; `plan --json` shows the same object.

use crate::config::Config;
use crate::settings::Rpm;

/// The settings a report (and `plan --json`) shows (never the key). With espeak and piper, the
/// API's settings (base URL, rpm, cpm) are null: they do not apply.
pub fn settings_json(cfg: &Config) -> serde_json::Value {
    let api = !cfg.provider.is_local();
    serde_json::json!({
        "provider": cfg.provider,
        "base_url": api.then_some(&cfg.base_url),
        "model": cfg.voice.model,
        "voice": cfg.voice.voice,
        "audio_format": cfg.voice.format,
        "speed": cfg.voice.speed,
        "instructions": cfg.voice.instructions,
        "rpm": match cfg.rpm {
            _ if !api => serde_json::Value::Null,
            Rpm::Fixed(n) => serde_json::json!(n),
            Rpm::Auto => serde_json::json!("auto"),
        },
        "cpm": cfg.cpm.filter(|_| api),
        "concurrency": cfg.concurrency,
        "max_attempts": cfg.max_attempts,
        "timeout_seconds": cfg.timeout.as_secs(),
        "max_chars": cfg.max_chars,
        "pause_ms": cfg.pause_ms,
        "max_cost": cfg.max_cost,
        "db": cfg.db.display().to_string(),
    })
}
