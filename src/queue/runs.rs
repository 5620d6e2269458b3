//! The `runs` table: when each run began and ended, and how.

use rusqlite::{Connection, OptionalExtension, params};

use super::{QueueError, now_rfc3339};

/// Records the start of a run and returns its id.
pub fn begin_run(
    conn: &Connection,
    input: &str,
    out: &str,
    settings: &str,
) -> Result<i64, QueueError> {
    conn.execute(
        "INSERT INTO runs (pid, started_at, input, out, settings) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![std::process::id(), now_rfc3339(), input, out, settings],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Records how a run ended.
pub fn end_run(conn: &Connection, run: i64, outcome: &str) -> Result<(), QueueError> {
    if crate::domain::fault_injected("queue-end-run") {
        return Err(QueueError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            Some("injected fault: queue-end-run".into()),
        )));
    }
    conn.execute(
        "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
        params![run, now_rfc3339(), outcome],
    )?;
    Ok(())
}

/// A run as the report shows it.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub outcome: Option<String>,
    pub input: String,
    pub out: String,
    pub settings: String,
}

/// The latest run, if any.
pub fn last_run(conn: &Connection) -> Result<Option<RunRow>, QueueError> {
    Ok(conn
        .query_row(
            "SELECT id, started_at, finished_at, outcome, input, out, settings FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(RunRow {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    outcome: r.get(3)?,
                    input: r.get(4)?,
                    out: r.get(5)?,
                    settings: r.get(6)?,
                })
            },
        )
        .optional()?)
}

/// Puts every claimed piece back to pending. Called by the run that holds the queue's lock,
/// so any claim it finds belongs to a run that died.
pub fn release_dead_claims(conn: &Connection) -> Result<usize, QueueError> {
    Ok(conn.execute(
        "UPDATE pieces SET status = 'pending', claim_run = NULL WHERE status = 'claimed'",
        [],
    )?)
}
