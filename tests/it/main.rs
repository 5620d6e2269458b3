//! The integration tests: the real binary against a fake speech API on 127.0.0.1, real SQLite
//! queues and real audio files. One test binary, a module per feature.

mod support;

mod cli;
mod csv_manifest;
mod failures;
mod json_output;
mod lines_manifest;
mod markdown_manifest;
mod quiet;
mod reliability;
mod resume;
mod shell;
mod snapshots;
mod throughput;
