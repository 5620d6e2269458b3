//! The integration tests: the real binary against a fake speech API on 127.0.0.1, real SQLite
//! queues and real audio files. One test binary, a module per feature.

mod support;

mod audio_checks;
mod book;
mod book_signals;
mod cli;
mod csv_manifest;
mod epub_manifest;
mod espeak;
mod exit_codes;
mod failures;
mod hostile;
mod joins;
mod json_output;
mod language_voice;
mod lines_manifest;
mod local_servers;
mod markdown_manifest;
mod metadata;
mod outage;
mod packing;
mod piper;
mod queue_access;
mod quiet;
mod real_epubs;
mod realtime;
mod refusals;
mod reliability;
mod resume;
mod shell;
mod shutdown;
mod snapshots;
mod text_command;
mod throughput;
mod token_limit;
mod verify;
mod wer_default;
mod whisper;
