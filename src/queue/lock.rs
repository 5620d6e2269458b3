//! The queue's lock: one process works a queue at a time.

use std::fs::File;
use std::path::Path;

use super::QueueError;
use crate::domain::io_reason;

/// The exclusive lock of a queue: an advisory lock on the database file itself, held for the
/// whole run and released by the kernel if the process dies, so a killed run never blocks the
/// next one and no lock file is left behind.
pub struct QueueLock {
    // Kept open until after the SQLite connection is closed: closing a descriptor of the
    // database would drop SQLite's own POSIX locks on it.
    _file: File,
}

impl QueueLock {
    /// Takes the lock, or fails with [`QueueError::Locked`] if another process holds it.
    pub fn acquire(db: &Path) -> Result<QueueLock, QueueError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(db)
            .map_err(|e| QueueError::Open {
                path: db.to_path_buf(),
                reason: io_reason(&e),
            })?;
        match file.try_lock() {
            Ok(()) => Ok(QueueLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(QueueError::Locked(db.to_path_buf())),
            Err(std::fs::TryLockError::Error(e)) => Err(QueueError::Unlockable {
                path: db.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }
}
