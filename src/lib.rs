//! tts-batch: a manifest of text → audio files through an OpenAI-compatible speech API, as a
//! persistent, resumable, rate-limited batch job. See ARCHITECTURE.md for the map.

#![forbid(unsafe_code)]

pub mod app;
pub mod audio;
pub mod chunk;
pub mod cli;
pub mod config;
pub mod error;
pub mod format;
pub mod logging;
pub mod manifest;
pub mod pacer;
pub mod plan;
pub mod pool;
pub mod progress;
pub mod queue;
pub mod report;
pub mod speech;
pub mod store;
