//! The one table of published prices and the one table of shutdown dates, both dated, that
//! `plan`, the run (`--max-cost`) and the report read. A model this table does not know has an
//! unknown price (`None`), never a silent 0: callers say so in words.
//!
//! Prices are OpenAI's, read on [`PRICES_READ`] from its model pages (per million characters
//! for `tts-1` and `tts-1-hd`, per million tokens for `gpt-4o-mini-tts` and the realtime
//! models). Speech that runs on this machine (`espeak-ng`, `piper`) and a local server's own
//! models (on a loopback address) cost nothing.

use crate::domain::ESPEAK_MODEL;

/// The day the prices below were read from the providers' pages.
pub const PRICES_READ: &str = "2026-12-06";

/// How a model is billed, in US dollars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Price {
    /// Nothing: speech made on this machine or by a local server.
    Free,
    /// Per million input characters (`tts-1`, `tts-1-hd`).
    PerMillionChars(f64),
    /// Per million tokens, by kind (`gpt-4o-mini-tts`, the realtime models).
    PerMillionTokens(TokenPrices),
    /// Per minute of audio sent (transcription models).
    PerAudioMinute(f64),
}

/// Dollars per million tokens of each kind a response's `usage` counts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TokenPrices {
    pub text_input: f64,
    pub cached_text_input: f64,
    pub audio_input: f64,
    pub text_output: f64,
    pub audio_output: f64,
}

/// One row of the price table: a model name (or the start of one, for dated snapshots such as
/// `gpt-4o-mini-tts-2025-03-20`) and its price.
struct PriceRow {
    model: &'static str,
    price: Price,
}

/// The published prices, read on [`PRICES_READ`]. Longer names first where one starts
/// another (`tts-1-hd` before `tts-1`), since a snapshot matches by its start.
const PRICES: &[PriceRow] = &[
    PriceRow {
        model: "tts-1-hd",
        price: Price::PerMillionChars(30.0),
    },
    PriceRow {
        model: "tts-1",
        price: Price::PerMillionChars(15.0),
    },
    PriceRow {
        model: "gpt-4o-mini-tts",
        price: Price::PerMillionTokens(TokenPrices {
            text_input: 0.60,
            cached_text_input: 0.60,
            audio_input: 0.0,
            text_output: 0.0,
            audio_output: 12.0,
        }),
    },
    PriceRow {
        model: "gpt-realtime-2.1-mini",
        price: Price::PerMillionTokens(TokenPrices {
            text_input: 0.60,
            cached_text_input: 0.06,
            audio_input: 10.0,
            text_output: 2.40,
            audio_output: 20.0,
        }),
    },
    PriceRow {
        model: "gpt-realtime-2.1",
        price: Price::PerMillionTokens(TokenPrices {
            text_input: 4.00,
            cached_text_input: 0.40,
            audio_input: 32.0,
            text_output: 24.0,
            audio_output: 64.0,
        }),
    },
    // Transcription (SPEC section 11), per minute of audio, checked on PRICES_READ:
    // `whisper-1` is billed per minute, $0.006 on OpenAI's model page
    // (developers.openai.com/api/docs/models/whisper-1). The `gpt-4o-*-transcribe` models are
    // billed in tokens (OpenAI's gpt-4o-transcribe page: audio input $2.50, text output $10 per
    // million; gpt-4o-mini-transcribe $1.25 and $5, as relays list it); the minute prices
    // here are the "estimated cost" column of OpenAI's pricing page ($0.006 and $0.003), as
    // quoted by third parties: that page itself was not in reach. A run has no token count of
    // a transcription to bill by, so the estimate per minute is what it counts.
    PriceRow {
        model: "whisper-1",
        price: Price::PerAudioMinute(0.006),
    },
    PriceRow {
        model: "gpt-4o-mini-transcribe",
        price: Price::PerAudioMinute(0.003),
    },
    PriceRow {
        model: "gpt-4o-transcribe",
        price: Price::PerAudioMinute(0.006),
    },
    PriceRow {
        model: "gpt-realtime-mini",
        price: Price::PerMillionTokens(TokenPrices {
            text_input: 0.60,
            cached_text_input: 0.06,
            audio_input: 10.0,
            text_output: 2.40,
            audio_output: 20.0,
        }),
    },
];

/// The price of `model` at `base_url`: free on this machine; the table's price for a model it
/// knows (also on a loopback address, where a relay or a stand-in may answer in OpenAI's
/// name); free for a model it does not know on a loopback server (a local voice's own name);
/// `None` for a model it does not know anywhere else (a relay's own name): an unknown price,
/// to be said as such.
pub fn price(model: &str, base_url: &str) -> Option<Price> {
    if model == ESPEAK_MODEL || model.starts_with("piper") {
        return Some(Price::Free);
    }
    PRICES
        .iter()
        .find(|row| model.starts_with(row.model))
        .map(|row| row.price)
        .or_else(|| is_loopback(base_url).then_some(Price::Free))
}

/// US dollars per minute of audio heard back by a transcription `model` at `base_url`
/// (SPEC section 11): nothing on this machine (a local Whisper answers to `whisper-1` too);
/// the table's price; a model the table does not know (a relay's own) at `whisper-1`'s, so
/// that `--max-cost` still counts it.
pub fn transcription_per_minute(model: &str, base_url: &str) -> f64 {
    if is_loopback(base_url) && !loopback_priced() {
        return 0.0;
    }
    match price(model, base_url) {
        Some(Price::PerAudioMinute(p)) => p,
        _ => 0.006,
    }
}

/// In debug builds (the tests), `TTS_BATCH_PRICE_LOOPBACK` set prices a loopback
/// transcription server as a remote one (the table's price per minute), so that `--max-cost`
/// counting transcription can be tested against the stand-in server on `127.0.0.1`.
fn loopback_priced() -> bool {
    #[cfg(debug_assertions)]
    if std::env::var_os("TTS_BATCH_PRICE_LOOPBACK").is_some() {
        return true;
    }
    false
}

/// Whether a base URL names this machine (a local server, which bills nothing).
pub fn is_loopback(base_url: &str) -> bool {
    let Ok(url) = url::Url::parse(base_url) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The assumptions that turn characters into tokens before anything is spoken: `plan` and
/// `--max-cost` use them, the report uses what the server billed.
pub mod assume {
    /// Characters per text token (o200k on English prose is about 4).
    pub const CHARS_PER_TEXT_TOKEN: f64 = 4.0;
    /// Characters spoken per second of audio (about 150 words a minute).
    pub const CHARS_PER_SECOND: f64 = 15.0;
    /// Audio-output tokens per second of speech: OpenAI bills gpt-4o-mini-tts at about
    /// $0.015 a minute at $12 per million tokens (1,250 tokens a minute), and its realtime
    /// models' audio at about 20 tokens a second.
    pub const AUDIO_TOKENS_PER_SECOND: f64 = 20.0;
    /// Text tokens of the instructions sent with every realtime response (the verbatim
    /// reading instructions, about 450 characters, plus a delivery direction).
    pub const INSTRUCTION_TOKENS: f64 = 120.0;
}

/// What a response used, as the server's `usage` counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    pub text_input: u64,
    pub cached_text_input: u64,
    pub audio_input: u64,
    pub text_output: u64,
    pub audio_output: u64,
}

impl Usage {
    /// The sum of two usages (saturating: a server's numbers never overflow).
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            text_input: self.text_input.saturating_add(other.text_input),
            cached_text_input: self
                .cached_text_input
                .saturating_add(other.cached_text_input),
            audio_input: self.audio_input.saturating_add(other.audio_input),
            text_output: self.text_output.saturating_add(other.text_output),
            audio_output: self.audio_output.saturating_add(other.audio_output),
        }
    }

    /// The usage a piece of `characters` is assumed to need (see [`assume`]).
    pub fn assumed(characters: usize, instructions: bool) -> Usage {
        let chars = characters as f64;
        let text = chars / assume::CHARS_PER_TEXT_TOKEN
            + if instructions {
                assume::INSTRUCTION_TOKENS
            } else {
                0.0
            };
        let audio = chars / assume::CHARS_PER_SECOND * assume::AUDIO_TOKENS_PER_SECOND;
        Usage {
            text_input: text.ceil() as u64,
            audio_output: audio.ceil() as u64,
            ..Usage::default()
        }
    }
}

impl TokenPrices {
    /// Dollars for `usage`. Cached input is billed at its own rate, the rest of the text input
    /// at the full one.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let per = |tokens: u64, price: f64| tokens as f64 * price / 1_000_000.0;
        let uncached = usage.text_input.saturating_sub(usage.cached_text_input);
        per(uncached, self.text_input)
            + per(usage.cached_text_input, self.cached_text_input)
            + per(usage.audio_input, self.audio_input)
            + per(usage.text_output, self.text_output)
            + per(usage.audio_output, self.audio_output)
    }
}

impl Price {
    /// The estimated cost of speaking `characters` before anything is billed: exact for a
    /// per-character price, from [`Usage::assumed`] for a per-token one (`realtime` adds the
    /// instructions it sends with every piece).
    pub fn estimate(&self, characters: usize, realtime: bool) -> f64 {
        match self {
            Price::Free => 0.0,
            Price::PerMillionChars(p) => characters as f64 * p / 1_000_000.0,
            Price::PerMillionTokens(t) => t.cost(&Usage::assumed(characters, realtime)),
            Price::PerAudioMinute(p) => characters as f64 / assume::CHARS_PER_SECOND / 60.0 * p,
        }
    }

    /// The price in words, for `plan`.
    pub fn describe(&self) -> String {
        match self {
            Price::Free => "free".into(),
            Price::PerMillionChars(p) => format!("${p:.2} per million characters"),
            Price::PerMillionTokens(t) => format!(
                "${:.2} per million text-input tokens and ${:.2} per million audio-output tokens",
                t.text_input, t.audio_output
            ),
            Price::PerAudioMinute(p) => format!("${p:.4} per minute of audio"),
        }
    }
}

/// The estimated cost of `characters` of `model` at `base_url`: `None` for a model whose
/// price is not known.
pub fn estimate_usd(model: &str, base_url: &str, characters: usize) -> Option<f64> {
    price(model, base_url).map(|p| p.estimate(characters, is_realtime(model)))
}

/// Whether a model is served by the Realtime API (priced with its instructions).
pub fn is_realtime(model: &str) -> bool {
    model.starts_with("gpt-realtime")
}

/// The day OpenAI shuts a model down, where it has said so: the deprecations page and the
/// text-to-speech guide, read on [`PRICES_READ`].
pub const SHUTDOWNS: &[(&str, &str)] = &[
    ("tts-1-hd", "2027-01-06"),
    ("tts-1", "2027-01-06"),
    ("gpt-4o-mini-tts", "2027-01-06"),
];

/// The replacement of the shut-down speech models, served by the Realtime API only.
pub const REPLACEMENT_MODEL: &str = crate::domain::REALTIME_MODEL;

/// The shutdown date (`YYYY-MM-DD`) of `model`, if one is known.
pub fn shutdown_date(model: &str) -> Option<&'static str> {
    SHUTDOWNS
        .iter()
        .find(|(name, _)| model.starts_with(name))
        .map(|(_, date)| *date)
}

/// Today's date (UTC), as `YYYY-MM-DD`; in debug builds (the tests), `TTS_BATCH_TODAY` stands
/// in for it, so the day of a shutdown can be tested before it comes.
pub fn today() -> String {
    #[cfg(debug_assertions)]
    if let Ok(day) = std::env::var("TTS_BATCH_TODAY")
        && day.len() == 10
    {
        return day;
    }
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Whether `base_url` is OpenAI's own API (where the shutdown dates apply; relays and local
/// servers keep their models).
pub fn is_openai(base_url: &str) -> bool {
    url::Url::parse(base_url)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(|h| h.eq_ignore_ascii_case("api.openai.com"))
        })
        .unwrap_or(false)
}

/// The advice for a model that shuts down: the command that switches, and what switching
/// costs (every item spoken again in a new voice).
pub fn switch_advice(input: &std::path::Path, characters: usize) -> String {
    let cost = estimate_usd(REPLACEMENT_MODEL, "https://api.openai.com/v1", characters)
        .map_or_else(String::new, |c| format!(", about ${c:.2}"));
    format!(
        "switch with `tts-batch run {} --provider realtime` (every item is spoken again in a new voice: {characters} characters{cost} at {REPLACEMENT_MODEL}'s prices of {PRICES_READ}), or keep the model through a relay or a local server (`--base-url`)",
        input.display()
    )
}

/// The one warning of a model at api.openai.com whose shutdown date is known (`today` as
/// `YYYY-MM-DD`): `None` for other models and other servers.
pub fn shutdown_notice(
    model: &str,
    base_url: &str,
    input: &std::path::Path,
    characters: usize,
    today: String,
) -> Option<String> {
    if !is_openai(base_url) {
        return None;
    }
    let date = shutdown_date(model)?;
    // ISO dates compare as text.
    let when = if today.as_str() >= date {
        format!("shut down at OpenAI on {date}")
    } else {
        format!("shuts down at OpenAI on {date}")
    };
    Some(format!(
        "`{model}` {when}: {}",
        switch_advice(input, characters)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "https://api.openai.com/v1";

    #[test]
    fn known_models_have_their_published_price_and_unknown_ones_none() {
        assert_eq!(
            estimate_usd("tts-1", API, 1_000_000),
            Some(15.0),
            "tts-1 is $15 per million characters"
        );
        assert_eq!(estimate_usd("tts-1-hd-1106", API, 1_000_000), Some(30.0));
        assert_eq!(estimate_usd("kokoro", API, 1000), None);
        assert_eq!(
            estimate_usd("kokoro", "http://127.0.0.1:8880/v1", 1000),
            Some(0.0)
        );
        assert_eq!(estimate_usd(ESPEAK_MODEL, API, 1000), Some(0.0));
        assert!(price("gpt-realtime-2.1-mini", API).is_some());
    }

    #[test]
    fn billed_usage_is_priced_per_kind() {
        let Some(Price::PerMillionTokens(t)) = price("gpt-realtime-2.1-mini", API) else {
            panic!("realtime mini is priced per token");
        };
        let usage = Usage {
            text_input: 1_000_000,
            cached_text_input: 0,
            audio_input: 0,
            text_output: 0,
            audio_output: 1_000_000,
        };
        assert!((t.cost(&usage) - 20.60).abs() < 1e-9);
        let cached = Usage {
            cached_text_input: 1_000_000,
            ..usage
        };
        assert!((t.cost(&cached) - 20.06).abs() < 1e-9);
    }

    #[test]
    fn estimates_follow_the_stated_assumptions() {
        // 1,500 characters: 100 s of speech, 2,000 audio tokens; 375 + 120 text tokens.
        let usage = Usage::assumed(1500, true);
        assert_eq!((usage.text_input, usage.audio_output), (495, 2000));
        let cost = estimate_usd(REPLACEMENT_MODEL, API, 1500).unwrap();
        assert!((cost - (495.0 * 0.6 + 2000.0 * 20.0) / 1e6).abs() < 1e-12);
    }

    #[test]
    fn the_shutdown_notice_names_the_date_the_command_and_the_cost() {
        let input = std::path::Path::new("book.md");
        let notice = shutdown_notice("tts-1", API, input, 150_000, "2026-12-06".into()).unwrap();
        assert!(
            notice.starts_with("`tts-1` shuts down at OpenAI on 2027-01-06"),
            "{notice}"
        );
        assert!(
            notice.contains("tts-batch run book.md --provider realtime"),
            "{notice}"
        );
        assert!(notice.contains("150000 characters, about $"), "{notice}");
        let after = shutdown_notice("tts-1", API, input, 1, "2027-01-06".into()).unwrap();
        assert!(
            after.contains("shut down at OpenAI on 2027-01-06"),
            "{after}"
        );
        assert_eq!(
            shutdown_notice("tts-1", "https://relay.example/v1", input, 1, "x".into()),
            None
        );
        assert_eq!(
            shutdown_notice(REPLACEMENT_MODEL, API, input, 1, "x".into()),
            None
        );
    }

    #[test]
    fn shutdown_dates_match_snapshots_too() {
        assert_eq!(shutdown_date("tts-1"), Some("2027-01-06"));
        assert_eq!(
            shutdown_date("gpt-4o-mini-tts-2025-03-20"),
            Some("2027-01-06")
        );
        assert_eq!(shutdown_date(REPLACEMENT_MODEL), None);
    }
}
