//! Files on disk: temporary names beside their final ones, write-fsync-rename-fsync, the piece
//! audio store, and sweeping temporary files a killed run left behind. A file with a final name
//! is always whole. Pieces and item files are made durable in groups (`durable.rs`): written
//! and renamed without an fsync each, then synced a batch at a time before the queue records
//! them.

mod durable;

pub use durable::GroupSync;

use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::audio;
use crate::domain::{AudioFormat, LocalError};
use crate::queue::ReadyItem;

/// Every temporary file ends with this, so a later run can tell ours from the user's files.
pub const TEMP_SUFFIX: &str = ".tts-tmp";

/// Temporary files alive in this process, so a second Ctrl-C can remove them before exiting.
fn live_temps() -> &'static Mutex<HashSet<PathBuf>> {
    static LIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(HashSet::new()))
}

/// Removes every temporary file this process has open (the exit-at-once path of a signal).
pub fn remove_live_temps() {
    if let Ok(live) = live_temps().lock() {
        for path in live.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A file being written under a temporary name beside its final one. Dropped without
/// [`TempFile::persist`], it is deleted.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    persisted: bool,
}

impl TempFile {
    /// Reserves the temporary name of `final_path` (creating its folder if needed).
    pub fn beside(final_path: &Path) -> io::Result<TempFile> {
        std::fs::create_dir_all(final_path.parent().unwrap_or(Path::new(".")))?;
        Ok(TempFile::in_existing_folder(final_path))
    }

    /// Reserves the temporary name of `final_path`, whose folder exists (the piece store, made
    /// once at the start of a run): no file call at all, so async code may call it.
    pub fn in_existing_folder(final_path: &Path) -> TempFile {
        let dir = final_path.parent().unwrap_or(Path::new("."));
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path = dir.join(format!(".{name}{TEMP_SUFFIX}"));
        if let Ok(mut live) = live_temps().lock() {
            live.insert(path.clone());
        }
        TempFile {
            path,
            persisted: false,
        }
    }

    /// The temporary path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the (already synced) file to `final_path` and syncs the folder, so the rename
    /// itself survives a power loss.
    pub fn persist(self, final_path: &Path) -> io::Result<()> {
        self.rename_to(final_path)?;
        sync_dir(final_path.parent().unwrap_or(Path::new(".")))
    }

    /// Renames the (already synced) file to `final_path`, without syncing the folder: for files
    /// that can be made again for free if a power loss undoes the rename.
    pub fn rename_to(mut self, final_path: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, final_path)?;
        self.persisted = true;
        // Renaming a hard link onto another link of the same file does nothing (POSIX), which
        // happens when an item is rebuilt from the piece its file already is: drop the link.
        if self.path.exists() {
            std::fs::remove_file(&self.path)?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted {
            let _ = std::fs::remove_file(&self.path);
        }
        if let Ok(mut live) = live_temps().lock() {
            live.remove(&self.path);
        }
    }
}

/// A crash point for tests: in debug builds, if `TTS_BATCH_FAILPOINT` names this point, the
/// process aborts here, as if killed; `NAME@N` aborts the N-th time the point is reached.
/// Release builds compile it to nothing.
pub fn failpoint(name: &str) {
    #[cfg(debug_assertions)]
    if let Ok(wanted) = std::env::var("TTS_BATCH_FAILPOINT") {
        use std::sync::atomic::{AtomicU64, Ordering};
        static REACHED: AtomicU64 = AtomicU64::new(0);
        let (point, nth) = match wanted.split_once('@') {
            Some((point, nth)) => (point, nth.parse::<u64>().unwrap_or(1)),
            None => (wanted.as_str(), 1),
        };
        if point == name && REACHED.fetch_add(1, Ordering::SeqCst) + 1 >= nth {
            eprintln!("failpoint {name}: aborting");
            std::process::abort();
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}

/// A pause point for tests: in debug builds, if `TTS_BATCH_HOLD` names this point, the thread
/// waits here until `cancel` fires, so that a test can signal a run in a phase too quick to
/// catch otherwise (it waits for the point's visible effect, then signals). A minute after the
/// point is first reached, every hold lets go, so a signal that is not heard fails the test
/// instead of hanging it. Release builds compile it to nothing.
pub fn hold(name: &str, cancel: &tokio_util::sync::CancellationToken) {
    #[cfg(debug_assertions)]
    if std::env::var("TTS_BATCH_HOLD").is_ok_and(|v| v == name) {
        static UNTIL: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let until =
            *UNTIL.get_or_init(|| std::time::Instant::now() + std::time::Duration::from_secs(60));
        while !cancel.is_cancelled() && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (name, cancel);
}

/// Makes a folder's entries (new names, renames) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Deletes temporary files left by a killed run under `dir` (a few levels deep). Returns how
/// many it removed.
pub fn sweep_temps(dir: &Path) -> usize {
    fn walk(dir: &Path, depth: usize, removed: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth < 8 {
                walk(&path, depth + 1, removed);
            } else if kind.is_file()
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMP_SUFFIX))
                && std::fs::remove_file(&path).is_ok()
            {
                *removed += 1;
            }
        }
    }
    let mut removed = 0;
    walk(dir, 0, &mut removed);
    removed
}

/// Where the audio of a piece is kept.
pub fn piece_path(pieces_dir: &Path, fingerprint: &str, format: AudioFormat) -> PathBuf {
    pieces_dir.join(format!("{fingerprint}.{}", format.extension()))
}

/// Why an item's file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The pieces cannot make one file (format mismatch, damaged piece): the item fails.
    #[error("{0}")]
    Audio(String),
    /// Our disk failed: the run stops.
    #[error("{0}")]
    Io(LocalError),
}

/// Writes tags into an item's temporary file, before it gets its final name. Its error (the
/// book stage's, which this stage cannot name) fails the item.
pub type Tagger<'a> =
    &'a (dyn Fn(&Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Sync);

/// Writes an item's file from its pieces' stored audio: joined into a temporary file with
/// `pause` of silence between pieces (one piece is linked, not copied, unless it is to be
/// tagged), tagged by `tag`, synced (with `durable`'s next batch), renamed. Returns (bytes,
/// seconds).
pub fn build_item(
    out: &Path,
    pieces_dir: &Path,
    item: &ReadyItem,
    pause: Duration,
    tag: Option<Tagger<'_>>,
    durable: &GroupSync,
) -> Result<(u64, f64), BuildError> {
    let final_path = out.join(&item.output);
    let io_err = |e: io::Error| BuildError::Io(LocalError::at(&final_path)(e));
    let paths: Vec<PathBuf> = item
        .pieces
        .iter()
        .map(|fp| piece_path(pieces_dir, fp, item.format))
        .collect();
    let temp = TempFile::beside(&final_path).map_err(io_err)?;
    let _ = std::fs::remove_file(temp.path());
    // A linked piece is already on disk: the queue recorded it only after its sync.
    let mut linked = false;
    let single = match (paths.as_slice(), item.piece_seconds.as_slice()) {
        // One piece is the same bytes as its stored audio, already measured. A linked piece
        // shares its bytes with the store: a tag written into it would change the stored piece
        // too, so a piece to be tagged is copied.
        ([one], [seconds]) if *seconds > 0.0 => {
            if tag.is_none() && std::fs::hard_link(one, temp.path()).is_ok() {
                linked = true;
                Some((
                    std::fs::metadata(temp.path()).map_err(io_err)?.len(),
                    *seconds,
                ))
            } else {
                let bytes = std::fs::copy(one, temp.path()).map_err(io_err)?;
                Some((bytes, *seconds))
            }
        }
        _ => None,
    };
    let (bytes, seconds) = match single {
        Some(done) => done,
        None => {
            let mut file = File::create(temp.path()).map_err(io_err)?;
            let joined = audio::join(item.format, &paths, pause, audio::Ends::Gapless, &mut file)
                .map_err(|e| match e {
                audio::AudioError::Io(io) | audio::AudioError::Read { source: io, .. } => {
                    io_err(io)
                }
                other => BuildError::Audio(other.to_string()),
            })?;
            // The join counts what it writes: the file's measured length.
            (joined.bytes, joined.seconds)
        }
    };
    let bytes = match tag {
        Some(tag) => {
            tag(temp.path()).map_err(|e| BuildError::Audio(e.to_string()))?;
            std::fs::metadata(temp.path()).map_err(io_err)?.len()
        }
        None => bytes,
    };
    if !linked {
        durable.sync_blocking([temp.path()]).map_err(io_err)?;
    }
    failpoint("item-after-temp-write");
    // No folder sync: an item file lost to a power loss is rebuilt from its pieces for free.
    temp.rename_to(&final_path).map_err(io_err)?;
    failpoint("item-after-rename");
    Ok((bytes, seconds))
}
