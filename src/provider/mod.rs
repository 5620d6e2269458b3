//! The speech provider: the OpenAI-compatible HTTP client, its error classes and retry hints.

pub mod openai;

pub use openai::{RateHints, SpeechClient, SpeechError, SpeechRequest};
