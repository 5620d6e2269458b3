//! tts-batch: a manifest of text → audio files through an OpenAI-compatible speech API, as a
//! persistent, resumable, rate-limited batch job. See ARCHITECTURE.md for the map.
//!
//! The library exists for the binary (and the demo example): its API is [`main`] and the
//! [`cli`] types, plus the text functions the integration tests check directly ([`chunk`],
//! `manifest::markdown`, and [`verify::score`], the word error rate). Everything else is crate-private, so the compiler finds dead code.

#![forbid(unsafe_code)]

pub(crate) mod audio;
pub(crate) mod book;
pub mod cli;
pub(crate) mod commands;
pub(crate) mod config;
pub(crate) mod domain;
pub(crate) mod error;
pub(crate) mod logging;
pub mod manifest;
pub(crate) mod plan;
pub(crate) mod provider;
pub(crate) mod queue;
pub(crate) mod report;
pub(crate) mod run;
pub mod settings;
pub(crate) mod slug;
pub(crate) mod store;
pub mod verify;

pub use commands::main;
/// Text normalisation and splitting, where the integration tests reach them.
pub use plan::chunk;
