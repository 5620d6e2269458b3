//! tts-batch: a manifest of text → audio files through an OpenAI-compatible speech API, as a
//! persistent, resumable, rate-limited batch job. See ARCHITECTURE.md for the map.

#![forbid(unsafe_code)]

pub mod audio;
pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod error;
pub mod logging;
pub mod manifest;
pub mod plan;
pub mod provider;
pub mod queue;
pub mod report;
pub mod run;
pub mod store;

pub use commands::main;

/// Text normalisation and splitting, where the integration tests reach them.
pub use plan::chunk;
