//! The queue: the SQLite file that makes a run resumable. This module is the only one that
//! speaks SQL. During a run exactly one thread owns the connection ([`QueueHandle`]); workers
//! send it closures, which it runs in batches, one transaction per batch, and answers only
//! after the commit, so no worker ever acts on a write that is not durable.

mod book;
mod claims;
mod lock;
mod reads;
mod runs;
mod sync;
mod verify;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

pub use book::*;
pub use claims::*;
pub use lock::QueueLock;
pub use reads::*;
pub use runs::*;
pub use sync::*;
pub use verify::*;
pub use writer::*;

use crate::domain::{AudioFormat, ItemState, PieceState};

/// `PRAGMA application_id` of our queues ("TTSB"), so a stranger's database is not taken for one.
const APPLICATION_ID: i64 = 0x5454_5342;

/// The schema's history; index + 1 is the `user_version` it leaves.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("schema.sql")),
        // Audio checks: why a piece's kept audio may be cut short or too long.
        M::up("ALTER TABLE pieces ADD COLUMN warning TEXT;"),
        M::up(include_str!("schema_v3.sql")),
        // Costs in the unit that is billed: each request's billed dollars and token usage.
        M::up(include_str!("schema_billed.sql")),
        M::up(include_str!("schema_v5.sql")),
        M::up(include_str!("schema_v6.sql")),
    ])
}

/// The newest schema version this build knows.
pub fn schema_version() -> i64 {
    6
}

/// A queue that cannot be used or a write that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: not a tts-batch queue (not an SQLite database, or another program's)", .0.display())]
    NotAQueue(PathBuf),
    #[error("{}: the queue was written by a newer tts-batch (schema version {found}, this one knows {known}); upgrade tts-batch", path.display())]
    Newer {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("{}: no queue here (run `tts-batch run` first)", .0.display())]
    Missing(PathBuf),
    #[error("{}: cannot open the queue: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    /// Another process holds the queue's lock.
    #[error("another run holds the queue {}", .0.display())]
    Locked(PathBuf),
    #[error("{}: cannot lock the queue: {reason}", path.display())]
    Unlockable { path: PathBuf, reason: String },
    #[error("the claim on piece {0} was lost")]
    ClaimLost(String),
    #[error("queue: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the queue's writer has stopped")]
    WriterGone,
    #[error("queue: a commit failed: {0}")]
    Commit(std::sync::Arc<rusqlite::Error>),
}

/// Opens (creating if needed) and migrates the queue for writing.
pub fn open(path: &Path) -> Result<Connection, QueueError> {
    let mut conn = Connection::open(path).map_err(|e| QueueError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    prepare(&mut conn, path)?;
    Ok(conn)
}

/// Opens an existing queue read-only (status, report, plan): nothing is created or migrated.
pub fn open_read_only(path: &Path) -> Result<Connection, QueueError> {
    if !path.is_file() {
        return Err(QueueError::Missing(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| QueueError::Open {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // A run's commit or checkpoint holds a lock for moments: wait rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let version = identify(&conn, path)?;
    if version == 0 {
        return Err(QueueError::Missing(path.to_path_buf()));
    }
    if version > schema_version() {
        return Err(QueueError::Newer {
            path: path.to_path_buf(),
            found: version,
            known: schema_version(),
        });
    }
    Ok(conn)
}

/// Checks that the file is ours (or empty) and returns its schema version.
fn identify(conn: &Connection, path: &Path) -> Result<i64, QueueError> {
    let not_ours = |_| QueueError::NotAQueue(path.to_path_buf());
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(not_ours)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(not_ours)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(not_ours)?;
    if app != APPLICATION_ID && (tables > 0 || app != 0) {
        return Err(QueueError::NotAQueue(path.to_path_buf()));
    }
    Ok(version)
}

fn prepare(conn: &mut Connection, path: &Path) -> Result<(), QueueError> {
    let version = identify(conn, path)?;
    if version > schema_version() {
        return Err(QueueError::Newer {
            path: path.to_path_buf(),
            found: version,
            known: schema_version(),
        });
    }
    // WAL: readers (status, report) never block the run. synchronous=NORMAL: a commit is
    // atomic and the file never corrupt, but the last commits may roll back on power loss (not
    // on a crash). That loses no audio: piece audio is synced to disk before it is recorded, and
    // a run finds unrecorded audio in the store again; an item whose record rolled back is
    // rebuilt from its pieces. It saves an fsync per commit.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // The WAL is checkpointed every 1000 pages (SQLite's default, said here so it stays so),
    // and truncated to this size after a checkpoint: it never grows without bound.
    conn.pragma_update(None, "wal_autocheckpoint", 1000)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement journals and sorts in memory: no temporary file per savepoint.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    migrations().to_latest(conn).map_err(|e| match e {
        rusqlite_migration::Error::RusqliteError { err, .. } => QueueError::Sqlite(err),
        other => QueueError::Open {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok(())
}

/// The time now as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// States and formats are stored as their names; a name this build does not know is a
// damaged row and an error, never a silent default.
fn to_sql_name(name: &'static str) -> rusqlite::Result<ToSqlOutput<'static>> {
    Ok(ToSqlOutput::Borrowed(ValueRef::Text(name.as_bytes())))
}

fn from_sql_name<T>(value: ValueRef<'_>) -> FromSqlResult<T>
where
    T: FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    value
        .as_str()?
        .parse()
        .map_err(|e| FromSqlError::Other(Box::new(e)))
}

impl ToSql for ItemState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        to_sql_name(self.as_str())
    }
}

impl FromSql for ItemState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        from_sql_name(value)
    }
}

impl ToSql for PieceState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        to_sql_name(self.as_str())
    }
}

impl FromSql for PieceState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        from_sql_name(value)
    }
}

impl ToSql for AudioFormat {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        to_sql_name(self.as_str())
    }
}

impl FromSql for AudioFormat {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        from_sql_name(value)
    }
}
