//! `retry`: failed items back to pending. Takes the queue's lock, so not during a run.

use crate::cli::RetryArgs;
use crate::config::queue_location;
use crate::error::{Error, Outcome};
use crate::queue;
use crate::queue::QueueLock;

/// `retry`: failed items back to pending (needs the queue's lock: not during a run). With `-q`
/// it prints nothing.
pub(super) fn retry(args: &RetryArgs, quiet: bool) -> Result<Outcome, Error> {
    let (db, _) = queue_location(&args.queue)?;
    if !db.is_file() {
        return Err(queue::QueueError::Missing(db).into());
    }
    let lock = QueueLock::acquire(&db)?;
    let mut conn = queue::open(&db)?;
    let known = queue::item_keys(&conn)?;
    if let Some(unknown) = args.keys.iter().find(|k| !known.contains(*k)) {
        return Err(Error::input(format!(
            "--key {unknown}: no such item in {}",
            db.display()
        )));
    }
    let n = queue::retry_failed(&mut conn, &args.keys)?;
    drop(conn);
    drop(lock);
    if !quiet {
        println!("{n} failed items back to pending; run the same command again to try them");
    }
    Ok(Outcome::Done)
}
