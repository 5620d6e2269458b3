//! The queue's lock: one process works a queue at a time.

use std::fs::File;
use std::path::Path;

use crate::domain::io_reason;
use crate::error::Error;

/// The exclusive lock of a queue: an advisory lock on the database file itself, held for the
/// whole run and released by the kernel if the process dies, so a killed run never blocks the
/// next one and no lock file is left behind.
pub struct QueueLock {
    // Kept open until after the SQLite connection is closed: closing a descriptor of the
    // database would drop SQLite's own POSIX locks on it.
    _file: File,
}

impl QueueLock {
    /// Takes the lock, or fails with [`Error::Locked`] if another process holds it.
    pub fn acquire(db: &Path) -> Result<QueueLock, Error> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(db)
            .map_err(|e| {
                Error::input(format!(
                    "{}: cannot open the queue: {}",
                    db.display(),
                    io_reason(&e)
                ))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(QueueLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked(db.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::input(format!(
                "{}: cannot lock the queue: {e}",
                db.display()
            ))),
        }
    }
}
