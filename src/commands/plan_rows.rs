//! What `plan` shows, whatever its rendering: a row per item and the totals, with the time
//! estimate at the configuration's limits. The table (`plan.rs`) and the JSON (`plan_json.rs`)
//! both render these.

use crate::config::Config;
use crate::domain::ProviderKind;
use crate::plan::estimate::{self, Estimate, Pace, Workload};

/// One item of the plan, as the table and the JSON show it.
#[derive(Debug, serde::Serialize)]
pub(super) struct PlanRow<'a> {
    pub key: &'a str,
    pub title: Option<&'a str>,
    pub output: &'a str,
    pub characters: usize,
    pub pieces: usize,
    /// Pieces of this item to send: not in the store, and not already counted for an
    /// earlier item with the same text and settings.
    pub requests: usize,
    /// Words or phrases the lexicon replaced in the item (None without `--lexicon`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacements: Option<usize>,
    /// The voice the item is spoken in (with espeak, where it follows the item's language).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice: Option<&'a str>,
}

/// What `plan` adds up.
#[derive(Debug, Default)]
pub(super) struct PlanTotals {
    pub items: usize,
    pub pieces: usize,
    pub chars: usize,
    /// The requests to send, their characters and their typical answer times.
    pub work: Workload,
    pub cost: f64,
    /// Words or phrases the lexicon replaced, in all items.
    pub replacements: usize,
    /// A model with no known price that some request goes to: the cost is then unknown.
    pub unpriced: Option<String>,
}

impl PlanTotals {
    /// How long sending the work takes at the configuration's limits.
    pub fn estimate(&self, cfg: &Config) -> Estimate {
        estimate::estimate(&self.work, &pace(cfg))
    }
}

/// The limits of a configuration, as the estimate takes them. espeak-ng and piper keep to no
/// rate: only their `-j` processes at once hold them.
fn pace(cfg: &Config) -> Pace {
    match cfg.provider {
        ProviderKind::Espeak | ProviderKind::Piper => Pace {
            rpm: u32::MAX,
            cpm: None,
            concurrency: cfg.concurrency,
        },
        ProviderKind::Openai | ProviderKind::Realtime => Pace {
            rpm: cfg.rpm.planned(),
            cpm: cfg.cpm,
            concurrency: cfg.concurrency,
        },
    }
}
