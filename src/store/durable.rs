//! Group commit to disk: files are written and renamed without an fsync each, and a batch of
//! them is made durable at once before the queue records any of them as stored. One thread
//! does the syncing; whoever asks while a sync runs waits for the next one, which covers every
//! file asked for meanwhile: the more requests are in flight, the more files each sync covers.
//!
//! On Linux a batch costs one `syncfs(2)` per file system (the piece store's and the output
//! folder's; usually one): it writes back every file and every renamed name on it and waits
//! for the journal, for a whole batch at once. Elsewhere (macOS, the BSDs) each file of the
//! batch and each of their folders is synced (`File::sync_all`, `F_FULLFSYNC` on macOS).
//!
//! This is the one place that decides when a written file is on disk: a voice (the `Provider`
//! trait) only writes its answer, the workers ask here before recording it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A batch's outcome, shared by every file in it.
type Outcome = Result<(), Arc<io::Error>>;

/// A reply: the batch's outcome.
type Reply = tokio::sync::oneshot::Sender<Outcome>;

/// How long the syncing thread waits for the next file before it syncs what it has, and how
/// long at most it gathers a batch. A `syncfs` costs the same for one file as for fifty, and
/// more the more files the file system has cached (measured: 0.5 ms to 10 ms of system time
/// each on the same machine): without gathering, answers that arrive one at a time were
/// synced one at a time. Nothing waits on it but the queue's record of a piece, which the
/// workers do not wait for.
const GATHER_GAP: Duration = Duration::from_millis(2);
const GATHER_MAX: Duration = Duration::from_millis(10);

/// One file to make durable, with where to answer.
struct Request {
    path: PathBuf,
    reply: Reply,
}

/// The handle to the syncing thread. Cloning it is cheap; the thread ends with the last clone.
#[derive(Clone)]
pub struct GroupSync {
    requests: mpsc::Sender<Request>,
}

impl GroupSync {
    /// Starts the syncing thread for files under `roots` (every file given to it must live on
    /// the file system of one of them).
    pub fn start(roots: &[&Path]) -> io::Result<GroupSync> {
        let (tx, rx) = mpsc::channel::<Request>();
        let mut syncer = Syncer::new(roots)?;
        std::thread::Builder::new()
            .name("group-sync".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let batch = gather(first, &rx);
                    super::failpoint("pieces-before-sync");
                    let outcome = syncer
                        .sync(batch.iter().map(|r| r.path.as_path()))
                        .map_err(Arc::new);
                    for request in batch {
                        let _ = request.reply.send(outcome.clone());
                    }
                }
            })?;
        Ok(GroupSync { requests: tx })
    }

    /// Waits until `path` (a file already written, and renamed if it is to be) is on disk,
    /// with its name.
    pub async fn sync(&self, path: &Path) -> io::Result<()> {
        answer(self.submit(path)?.await)
    }

    /// [`GroupSync::sync`] for every path, from a blocking thread (not from async code).
    pub fn sync_blocking<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> io::Result<()> {
        let waiting: Vec<_> = paths
            .into_iter()
            .map(|path| self.submit(path))
            .collect::<io::Result<_>>()?;
        for reply in waiting {
            answer(reply.blocking_recv())?;
        }
        Ok(())
    }

    fn submit(&self, path: &Path) -> io::Result<tokio::sync::oneshot::Receiver<Outcome>> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send(Request {
                path: path.to_path_buf(),
                reply,
            })
            .map_err(|_| io::Error::other("the syncing thread is gone"))?;
        Ok(answer)
    }
}

/// The files asked for after `first`: while they keep coming (each within `GATHER_GAP` of the
/// last), for at most `GATHER_MAX`.
fn gather(first: Request, rx: &mpsc::Receiver<Request>) -> Vec<Request> {
    let mut batch = vec![first];
    let until = Instant::now() + GATHER_MAX;
    loop {
        batch.extend(rx.try_iter());
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return batch;
        }
        match rx.recv_timeout(GATHER_GAP.min(left)) {
            Ok(request) => batch.push(request),
            Err(_) => return batch,
        }
    }
}

fn answer(got: Result<Outcome, tokio::sync::oneshot::error::RecvError>) -> io::Result<()> {
    match got {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(io::Error::new(e.kind(), format!("syncing to disk: {e}"))),
        Err(_) => Err(io::Error::other("the syncing thread is gone")),
    }
}

/// What syncs a batch: one open folder per file system on Linux.
#[cfg(target_os = "linux")]
struct Syncer {
    file_systems: Vec<std::fs::File>,
}

#[cfg(target_os = "linux")]
impl Syncer {
    fn new(roots: &[&Path]) -> io::Result<Syncer> {
        use std::os::unix::fs::MetadataExt;
        let mut devices = Vec::new();
        let mut file_systems = Vec::new();
        for root in roots {
            let dir = std::fs::File::open(root)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.display())))?;
            let device = dir.metadata()?.dev();
            if !devices.contains(&device) {
                devices.push(device);
                file_systems.push(dir);
            }
        }
        Ok(Syncer { file_systems })
    }

    /// One `syncfs` per file system covers every file of the batch, data and names.
    fn sync<'a>(&mut self, _paths: impl Iterator<Item = &'a Path>) -> io::Result<()> {
        for fs in &self.file_systems {
            rustix::fs::syncfs(fs)?;
        }
        Ok(())
    }
}

/// What syncs a batch where there is no `syncfs`: each file, then each folder once.
#[cfg(not(target_os = "linux"))]
struct Syncer;

#[cfg(not(target_os = "linux"))]
impl Syncer {
    fn new(_roots: &[&Path]) -> io::Result<Syncer> {
        Ok(Syncer)
    }

    fn sync<'a>(&mut self, paths: impl Iterator<Item = &'a Path>) -> io::Result<()> {
        let mut folders: Vec<&Path> = Vec::new();
        for path in paths {
            std::fs::File::open(path)?.sync_all()?;
            let folder = path.parent().unwrap_or(Path::new("."));
            if !folders.contains(&folder) {
                folders.push(folder);
            }
        }
        for folder in folders {
            super::sync_dir(folder)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_asked_for_is_answered_after_a_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let sync = GroupSync::start(&[dir.path(), dir.path()]).expect("start");
        let paths: Vec<PathBuf> = (0..20)
            .map(|i| {
                let path = dir.path().join(format!("{i}.bin"));
                std::fs::write(&path, [i as u8; 100]).expect("write");
                path
            })
            .collect();
        sync.sync_blocking(paths.iter().map(PathBuf::as_path))
            .expect("synced");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nowhere");
        let Err(e) = GroupSync::start(&[&missing]) else {
            panic!("a missing folder was accepted");
        };
        assert!(e.to_string().contains("nowhere"), "{e}");
    }
}
