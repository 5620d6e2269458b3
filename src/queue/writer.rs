//! The writer thread: the one owner of the connection during a run. Workers send it closures,
//! which it runs in batches, one transaction per batch, answering only after the commit.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::QueueError;

/// A failed commit, shared by every job of the batch.
type CommitResult = Result<(), Arc<rusqlite::Error>>;
type Reply = Box<dyn FnOnce(CommitResult) + Send>;
type Job = Box<dyn FnOnce(&mut Transaction<'_>) -> Reply + Send>;

/// The handle workers use to reach the one thread that owns the connection.
#[derive(Clone)]
pub struct QueueHandle {
    jobs: mpsc::Sender<Job>,
}

impl QueueHandle {
    /// Moves `conn` to a new thread that runs jobs in batches until every handle is dropped;
    /// joining the thread gives the connection back.
    pub fn spawn(mut conn: Connection) -> std::io::Result<(QueueHandle, JoinHandle<Connection>)> {
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("queue-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    // Batch whatever else is waiting: one commit (one fsync) for many writes.
                    while batch.len() < 512 {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    if crate::domain::fault_injected("queue-writer-panic") {
                        // The tests' stand-in for a bug or a SQLite abort in the writer.
                        std::panic::resume_unwind(Box::new("injected fault: queue-writer-panic"));
                    }
                    run_batch(&mut conn, batch);
                }
                conn
            })?;
        Ok((QueueHandle { jobs: tx }, thread))
    }

    /// Runs `f` on the writer thread inside the batch's transaction (under a savepoint, so an
    /// error undoes only `f`'s writes) and returns its result once the batch is committed.
    pub async fn call<R, F>(&self, f: F) -> Result<R, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        self.submit(f)?.await.map_err(|_| QueueError::WriterGone)?
    }

    /// [`QueueHandle::call`] from a blocking thread (not from async code).
    pub fn call_blocking<R, F>(&self, f: F) -> Result<R, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        self.submit(f)?
            .blocking_recv()
            .map_err(|_| QueueError::WriterGone)?
    }

    /// Queues `f` for the writer thread; the receiver gets its result after the batch's commit.
    fn submit<R, F>(
        &self,
        f: F,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<R, QueueError>>, QueueError>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> Result<R, QueueError> + Send + 'static,
    {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |tx: &mut Transaction<'_>| {
            let result = in_savepoint(tx, f);
            Box::new(move |commit: CommitResult| {
                let _ = reply_tx.send(commit.map_err(QueueError::Commit).and(result));
            })
        });
        self.jobs.send(job).map_err(|_| QueueError::WriterGone)?;
        Ok(reply_rx)
    }

    /// Runs `f` on the writer thread without waiting for it (request logs); errors are logged.
    pub fn send<F>(&self, f: F)
    where
        F: FnOnce(&Connection) -> Result<(), QueueError> + Send + 'static,
    {
        let job: Job = Box::new(move |tx: &mut Transaction<'_>| {
            if let Err(e) = in_savepoint(tx, f) {
                tracing::warn!("queue write failed: {e}");
            }
            Box::new(|_| {})
        });
        let _ = self.jobs.send(job);
    }
}

fn in_savepoint<R>(
    tx: &mut Transaction<'_>,
    f: impl FnOnce(&Connection) -> Result<R, QueueError>,
) -> Result<R, QueueError> {
    let sp = tx.savepoint()?;
    let result = f(&sp);
    if result.is_ok() {
        sp.commit()?;
    }
    // Dropping an uncommitted savepoint rolls it back.
    result
}

fn run_batch(conn: &mut Connection, batch: Vec<Job>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                // Nothing ran; tell every caller the write did not happen. The job is dropped
                // unrun, which drops its reply sender: callers see WriterGone-like errors.
                drop(job);
            }
            tracing::error!("queue: cannot begin a transaction: {msg}");
            return;
        }
    };
    let mut tx = tx;
    let replies: Vec<Reply> = batch.into_iter().map(|job| job(&mut tx)).collect();
    let commit = tx.commit().map_err(Arc::new);
    if let Err(e) = &commit {
        tracing::error!("queue: commit failed: {e}");
    }
    for reply in replies {
        reply(commit.clone());
    }
}
