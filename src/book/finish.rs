//! The end of a run: the playlist, each item's subtitles, and the book file with its subtitles,
//! from the queue's rows. Everything here is rewritten only when it would change: the playlist
//! and subtitles are compared byte for byte, the book by a fingerprint of what it is made of
//! (kept in the queue), so a run that changed one item rewrites that item's outputs and the
//! book, and leaves every other file as it was.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::files::write_if_changed;
use super::layout::Layout;
use super::m4b;
use super::meta::BookMeta;
use super::mp3book;
use super::playlist;
use super::subtitles::{self, PieceTiming, SubtitleFormat};
use super::{BookError, BookFormat, BookSettings};
use crate::domain::AudioFormat;
use crate::queue::{self, BookItemRow};
use crate::slug::slug;
use crate::store::TempFile;

/// The queue's name for the book file's fingerprint.
const BOOK_OUTPUT: &str = "book";

/// What the end of the run wrote.
#[derive(Debug, Default)]
pub struct Finished {
    pub playlist_written: bool,
    pub subtitles_written: usize,
    /// The book file, when it was (re)built in this run.
    pub book_built: Option<PathBuf>,
    /// Why the book was not built, when it was asked for and is not up to date.
    pub book_waiting: Option<String>,
}

/// Writes the run's outputs besides the item files. When `cancel` fires (a signal), it stops
/// between files or inside the book (its ffmpeg processes killed) with `BookError::Cancelled`,
/// leaving no partial file: what was finished stays (a playlist, subtitles, chapter encodings),
/// the rest is made by the next run.
pub fn finish(
    conn: &Connection,
    out: &Path,
    settings: &BookSettings,
    cancel: &CancellationToken,
) -> Result<Finished, BookError> {
    finish_outputs(conn, out, settings, cancel).map_err(|e| {
        if cancel.is_cancelled() {
            BookError::Cancelled
        } else {
            e
        }
    })
}

fn finish_outputs(
    conn: &Connection,
    out: &Path,
    settings: &BookSettings,
    cancel: &CancellationToken,
) -> Result<Finished, BookError> {
    let stopped = || {
        if cancel.is_cancelled() {
            Err(BookError::Cancelled)
        } else {
            Ok(())
        }
    };
    let items = queue::book_items(conn)?;
    let done: Vec<&BookItemRow> = items.iter().filter(|i| i.is_done()).collect();
    let mut finished = Finished::default();
    if items.len() > 1 {
        let path = out.join(super::PLAYLIST);
        finished.playlist_written = write_if_changed(&path, |w| {
            playlist::write(
                done.iter().map(|i| playlist::Entry {
                    file: &i.output,
                    title: i.title(),
                    seconds: i.seconds(),
                }),
                w,
            )
        })
        .map_err(|e| BookError::write(&path, e))?;
    }
    if let Some(format) = settings.subtitles {
        for item in &done {
            stopped()?;
            let path = out.join(subtitle_name(&item.output, format));
            let cues = item_cues(conn, item, settings)?;
            if write_if_changed(&path, |w| subtitles::write(format, cues, w))
                .map_err(|e| BookError::write(&path, e))?
            {
                finished.subtitles_written += 1;
            }
        }
    }
    stopped()?;
    let Some(book) = settings.format else {
        return Ok(finished);
    };
    if done.len() < items.len() {
        finished.book_waiting = Some(format!(
            "{} of {} items are done; the book file is written once all are",
            done.len(),
            items.len()
        ));
        return Ok(finished);
    }
    let path = out.join(book_file_name(&settings.meta, book));
    let fingerprint = book_fingerprint(settings, book, &done);
    let up_to_date = path.is_file()
        && queue::output_fingerprint(conn, BOOK_OUTPUT)?.as_deref() == Some(fingerprint.as_str());
    let subtitle_path = settings
        .subtitles
        .map(|f| (f, path.with_extension(f.extension())));
    // A missing book subtitle file is made by building again: cheap, the encodings are kept.
    if up_to_date && subtitle_path.as_ref().is_none_or(|(_, p)| p.is_file()) {
        return Ok(finished);
    }
    let layout = build(out, &path, book, settings, &done, cancel)?;
    queue::set_output_fingerprint(conn, BOOK_OUTPUT, &fingerprint)?;
    finished.book_built = Some(path.clone());
    if let Some((format, sub_path)) = subtitle_path {
        write_if_changed(&sub_path, |w| {
            let mut writer = subtitles::Writer::start(format, w)?;
            for (i, item) in done.iter().enumerate() {
                let cues = item_cues(conn, item, settings).map_err(std::io::Error::other)?;
                for cue in subtitles::book_cues(cues, &layout, i) {
                    writer.cue(w, &cue)?;
                }
            }
            Ok(())
        })
        .map_err(|e| BookError::write(&sub_path, e))?;
    }
    Ok(finished)
}

/// Builds the book file under a temporary name and renames it when whole.
fn build(
    out: &Path,
    path: &Path,
    book: BookFormat,
    settings: &BookSettings,
    items: &[&BookItemRow],
    cancel: &CancellationToken,
) -> Result<Layout, BookError> {
    let temp = TempFile::beside(path).map_err(|e| BookError::write(path, e))?;
    let started = std::time::Instant::now();
    let layout = match book {
        BookFormat::Mp3 => {
            let chapters = items
                .iter()
                .map(|i| {
                    if i.format != AudioFormat::Mp3 {
                        return Err(BookError::NotMp3 {
                            key: i.key.clone(),
                            format: i.format,
                        });
                    }
                    Ok(mp3book::ChapterFile {
                        title: i.title().to_owned(),
                        path: out.join(&i.output),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let file = std::fs::File::create(temp.path()).map_err(|e| BookError::write(path, e))?;
            let mut w = Cancellable {
                inner: file,
                cancel,
            };
            let layout = mp3book::write(&chapters, settings.gap_ms, &settings.meta, &mut w)?;
            w.inner.sync_all().map_err(|e| BookError::write(path, e))?;
            layout
        }
        BookFormat::M4b => {
            let ffmpeg = super::ffmpeg::find()?;
            let chapters: Vec<m4b::Chapter> = items
                .iter()
                .map(|i| m4b::Chapter {
                    title: i.title().to_owned(),
                    path: out.join(&i.output),
                    fingerprint: i.audio_fingerprint().to_owned(),
                })
                .collect();
            let built = m4b::write(
                &ffmpeg,
                &settings.cache,
                &chapters,
                settings.gap_ms,
                &settings.meta,
                temp.path(),
                cancel,
            )?;
            std::fs::File::open(temp.path())
                .and_then(|f| f.sync_all())
                .map_err(|e| BookError::write(path, e))?;
            tracing::info!(
                "{}: {} chapters, {} encoded now",
                path.display(),
                chapters.len(),
                built.encoded
            );
            built.layout
        }
    };
    temp.persist(path).map_err(|e| BookError::write(path, e))?;
    tracing::info!(
        "wrote {} ({:.1} hours of audio) in {:.1}s",
        path.display(),
        layout.seconds / 3600.0,
        started.elapsed().as_secs_f64()
    );
    Ok(layout)
}

/// A file that refuses to be written once the run is cancelled, so that a long join stops at
/// its next buffer (64 KiB).
struct Cancellable<'c> {
    inner: std::fs::File,
    cancel: &'c CancellationToken,
}

impl std::io::Write for Cancellable<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::store::hold("mp3-book-write", self.cancel);
        if self.cancel.is_cancelled() {
            return Err(std::io::Error::other("stopped by a signal"));
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl std::io::Seek for Cancellable<'_> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The book file's name: the slug of its title and the format's extension.
pub fn book_file_name(meta: &BookMeta, format: BookFormat) -> String {
    let slug = slug(&meta.title);
    let stem = if slug.is_empty() {
        "book".to_owned()
    } else {
        slug
    };
    format!("{stem}.{}", format.extension())
}

/// `NAME.srt` beside `NAME.mp3`.
pub fn subtitle_name(output: &str, format: SubtitleFormat) -> String {
    Path::new(output)
        .with_extension(format.extension())
        .to_string_lossy()
        .into_owned()
}

/// What the book file is made of: if this is unchanged, so is the book.
fn book_fingerprint(settings: &BookSettings, book: BookFormat, items: &[&BookItemRow]) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(b"book v1");
    field(book.extension().as_bytes());
    field(&settings.gap_ms.to_le_bytes());
    field(settings.subtitles.map_or("", |s| s.extension()).as_bytes());
    let meta = &settings.meta;
    field(meta.title.as_bytes());
    field(meta.author.as_deref().unwrap_or("").as_bytes());
    field(meta.narrator.as_deref().unwrap_or("").as_bytes());
    field(meta.cover.as_ref().map_or(&[][..], |c| &c.bytes));
    for item in items {
        field(item.title().as_bytes());
        field(item.output.as_bytes());
        field(item.audio_fingerprint().as_bytes());
    }
    hex::encode(h.finalize())
}

/// An item's cues, from its pieces' text and measured lengths (and the times their
/// transcripts give, where they were heard back).
fn item_cues(
    conn: &Connection,
    item: &BookItemRow,
    settings: &BookSettings,
) -> Result<Vec<subtitles::Cue>, BookError> {
    let pieces: Vec<PieceTiming> = queue::item_piece_timings(conn, &item.key)?
        .into_iter()
        .map(|(text, seconds, heard)| PieceTiming {
            text,
            seconds,
            heard: subtitles::parse_heard(heard.as_deref()),
        })
        .collect();
    Ok(subtitles::item_cues(
        &pieces,
        f64::from(settings.pause_ms) / 1000.0,
        item.seconds(),
    ))
}
