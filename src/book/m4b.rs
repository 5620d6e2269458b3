//! `--book m4b`: AAC in MP4 with a chapter mark per item, tags and cover, made by the `ffmpeg`
//! program. Each chapter's audio is encoded to AAC once and kept in a cache folder beside the
//! queue (`tts-batch.book/<item fingerprint>.aac`, raw ADTS), as is the gap's silence; the book
//! is then those encodings streamed in order into one ffmpeg that only wraps them into MP4
//! (`-c copy`) with the chapters and tags from an ffmetadata file and the cover. So a rebuild
//! after one chapter changed encodes that chapter alone, and our own process holds a 64 KiB
//! buffer whatever the book's length.
//!
//! Chapter marks count whole AAC frames (1024 samples) of the encodings actually joined, so each
//! falls where its chapter's audio starts in the file (within the encoder's priming, 1024
//! samples); timings are exact to the sample in the ffmetadata time base.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;

use super::ffmpeg::{self, FfmpegError};
use super::layout::{Layout, Span};
use super::meta::{BookMeta, GENRE};
use crate::audio::{self, AudioError};
use crate::domain::AudioFormat;

/// Every chapter is encoded to this (speech: mono, at the speech API's own rate).
const SAMPLE_RATE: u32 = 24_000;
const BITRATE: &str = "64k";
/// Changes when the encoding settings above change, so old cached encodings are not reused.
const ENCODING_VERSION: &str = "aac-lc-24k-mono-64k-v1";

/// A chapter: its item file, title, and the fingerprint of its audio (the cache key).
#[derive(Debug, Clone)]
pub struct Chapter {
    pub title: String,
    pub path: PathBuf,
    pub fingerprint: String,
}

/// Why the M4B book could not be written.
#[derive(Debug, thiserror::Error)]
pub enum M4bError {
    #[error(transparent)]
    Ffmpeg(#[from] FfmpegError),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: the cached encoding is not AAC audio", path.display())]
    BadCache { path: PathBuf },
    #[error("the book has no chapters")]
    Empty,
    #[error("stopped by a signal")]
    Cancelled,
}

/// What a build did, for the log and the benchmark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Built {
    pub layout: Layout,
    /// Chapters encoded in this build (the rest came from the cache).
    pub encoded: usize,
}

/// An encoding in the cache, measured.
struct Cached {
    path: PathBuf,
    frames: u64,
}

/// Builds the book into `out` (a temporary path the caller syncs and renames), encoding into
/// and reusing `cache`. Old encodings no chapter uses any more are removed from it afterwards.
/// When `cancel` fires, the ffmpeg processes running are killed and their unfinished output
/// removed; encodings already in the cache stay there for the next build.
pub fn write(
    ffmpeg: &Path,
    cache: &Path,
    chapters: &[Chapter],
    gap_ms: u32,
    book: &BookMeta,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<Built, M4bError> {
    if chapters.is_empty() {
        return Err(M4bError::Empty);
    }
    let io_at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| M4bError::Io { path, source }
    };
    std::fs::create_dir_all(cache).map_err(io_at(cache))?;
    let encoded = AtomicUsize::new(0);
    let cached = encode_all(ffmpeg, cache, chapters, &encoded, cancel)?;
    let gap = if gap_ms > 0 {
        Some(gap_encoding(ffmpeg, cache, gap_ms, &encoded, cancel)?)
    } else {
        None
    };

    // Positions in samples, so the chapter marks are exact in the metadata's time base.
    let gap_samples = gap.as_ref().map_or(0, |g| g.frames * 1024);
    let mut samples = Vec::with_capacity(cached.len());
    let mut at = 0u64;
    for (i, c) in cached.iter().enumerate() {
        if i > 0 {
            at = at.saturating_add(gap_samples);
        }
        samples.push((at, at.saturating_add(c.frames.saturating_mul(1024))));
        at = at.saturating_add(c.frames.saturating_mul(1024));
    }
    let rate = f64::from(SAMPLE_RATE);
    let layout = Layout {
        chapters: samples
            .iter()
            .map(|&(s, e)| Span {
                start: s as f64 / rate,
                end: e as f64 / rate,
            })
            .collect(),
        seconds: at as f64 / rate,
    };

    let meta_path = cache.join(".book.ffmetadata.tts-tmp");
    let metadata = ffmetadata(book, chapters, &samples, at);
    std::fs::write(&meta_path, metadata).map_err(io_at(&meta_path))?;
    let cover_path = book
        .cover
        .as_ref()
        .map(|c| cache.join(format!(".cover.{}.tts-tmp", c.kind.extension())));
    if let (Some(path), Some(cover)) = (&cover_path, &book.cover) {
        std::fs::write(path, &cover.bytes).map_err(io_at(path))?;
    }
    let muxed = mux(
        ffmpeg,
        &cached,
        gap.as_ref(),
        &meta_path,
        cover_path.as_deref(),
        out,
        cancel,
    );
    let _ = std::fs::remove_file(&meta_path);
    if let Some(path) = &cover_path {
        let _ = std::fs::remove_file(path);
    }
    muxed?;

    let mut keep: Vec<&Path> = cached.iter().map(|c| c.path.as_path()).collect();
    if let Some(g) = &gap {
        keep.push(&g.path);
    }
    prune(cache, &keep);
    Ok(Built {
        layout,
        encoded: encoded.into_inner(),
    })
}

/// Encodes the chapters missing from the cache, one ffmpeg per core at a time.
fn encode_all(
    ffmpeg: &Path,
    cache: &Path,
    chapters: &[Chapter],
    encoded: &AtomicUsize,
    cancel: &CancellationToken,
) -> Result<Vec<Cached>, M4bError> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(chapters.len());
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Cached, M4bError>>> =
        (0..chapters.len()).map(|_| None).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(chapter) = chapters.get(i) else {
                            break;
                        };
                        let r = if cancel.is_cancelled() {
                            Err(M4bError::Cancelled)
                        } else {
                            cached_or_encode(ffmpeg, cache, chapter, encoded, cancel)
                        };
                        let failed = r.is_err();
                        done.push((i, r));
                        if failed {
                            // Stop the others early: the build fails anyway.
                            next.store(chapters.len(), Ordering::Relaxed);
                            break;
                        }
                    }
                    done
                })
            })
            .collect();
        for h in handles {
            // A worker panics only on a bug; its chapters stay `None` and fail below.
            if let Ok(done) = h.join() {
                for (i, r) in done {
                    results[i] = Some(r);
                }
            }
        }
    });
    results
        .into_iter()
        .zip(chapters)
        .map(|(r, c)| {
            r.unwrap_or_else(|| {
                Err(M4bError::Io {
                    path: c.path.clone(),
                    source: io::Error::other("not encoded"),
                })
            })
        })
        .collect()
}

/// The cached encoding of `chapter`, made now if it is missing.
fn cached_or_encode(
    ffmpeg: &Path,
    cache: &Path,
    chapter: &Chapter,
    encoded: &AtomicUsize,
    cancel: &CancellationToken,
) -> Result<Cached, M4bError> {
    let name = cache_name(&chapter.fingerprint);
    let path = cache.join(&name);
    if let Ok(c) = measure(&path) {
        return Ok(c);
    }
    let temp = cache.join(format!(".{name}.tts-tmp"));
    let mut cmd = ffmpeg::command(ffmpeg);
    cmd.arg("-i").arg(&chapter.path);
    cmd.args(["-map", "0:a:0", "-vn", "-ac", "1", "-ar"]);
    cmd.arg(SAMPLE_RATE.to_string());
    cmd.args(["-c:a", "aac", "-b:a", BITRATE, "-f", "adts"]);
    cmd.arg(&temp);
    let what = format!("encoding {}", chapter.path.display());
    encode_to_cache(cmd, &what, &temp, &path, encoded, cancel)
}

/// Runs `cmd`, which writes the encoding to `temp`, then gives it its cache name `path` and
/// measures it. A failed encoding leaves nothing behind.
fn encode_to_cache(
    cmd: std::process::Command,
    what: &str,
    temp: &Path,
    path: &Path,
    encoded: &AtomicUsize,
    cancel: &CancellationToken,
) -> Result<Cached, M4bError> {
    if let Err(e) = ffmpeg::run(cmd, what, cancel) {
        let _ = std::fs::remove_file(temp);
        return Err(e.into());
    }
    std::fs::rename(temp, path).map_err(|source| M4bError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    encoded.fetch_add(1, Ordering::Relaxed);
    crate::store::hold("m4b-encoded", cancel);
    measure(path)
}

/// The cache file of an item fingerprint under the current encoding settings.
fn cache_name(fingerprint: &str) -> String {
    use std::hash::{DefaultHasher, Hash, Hasher};
    // The settings are folded in so a change of encoder settings misses the cache; the item
    // fingerprint itself is already a hash, kept readable in the name.
    let mut h = DefaultHasher::new();
    ENCODING_VERSION.hash(&mut h);
    let short: String = fingerprint
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    format!("{short}-{:08x}.aac", h.finish() & 0xFFFF_FFFF)
}

/// The cached silence of `gap_ms`.
fn gap_encoding(
    ffmpeg: &Path,
    cache: &Path,
    gap_ms: u32,
    encoded: &AtomicUsize,
    cancel: &CancellationToken,
) -> Result<Cached, M4bError> {
    let name = cache_name(&format!("gap{gap_ms}ms"));
    let path = cache.join(&name);
    if let Ok(c) = measure(&path) {
        return Ok(c);
    }
    let temp = cache.join(format!(".{name}.tts-tmp"));
    let mut cmd = ffmpeg::command(ffmpeg);
    cmd.args(["-f", "lavfi", "-i"]);
    cmd.arg(format!("anullsrc=r={SAMPLE_RATE}:cl=mono"));
    cmd.arg("-t")
        .arg(format!("{}.{:03}", gap_ms / 1000, gap_ms % 1000));
    cmd.args(["-c:a", "aac", "-b:a", BITRATE, "-f", "adts"]);
    cmd.arg(&temp);
    encode_to_cache(
        cmd,
        "encoding the chapter gap",
        &temp,
        &path,
        encoded,
        cancel,
    )
}

fn measure(path: &Path) -> Result<Cached, M4bError> {
    match audio::count_frames(AudioFormat::Aac, path) {
        Ok(count) if count.sample_rate == SAMPLE_RATE && count.samples_per_frame == 1024 => {
            Ok(Cached {
                path: path.to_path_buf(),
                frames: count.frames,
            })
        }
        Err(AudioError::Read { source, .. }) => Err(M4bError::Io {
            path: path.to_path_buf(),
            source,
        }),
        Ok(_) | Err(_) => Err(M4bError::BadCache {
            path: path.to_path_buf(),
        }),
    }
}

/// Streams the encodings (gaps between) into one ffmpeg that wraps them into MP4 with the
/// metadata and cover, copying the audio.
fn mux(
    ffmpeg: &Path,
    cached: &[Cached],
    gap: Option<&Cached>,
    meta: &Path,
    cover: Option<&Path>,
    out: &Path,
    cancel: &CancellationToken,
) -> Result<(), M4bError> {
    let mut cmd = ffmpeg::command(ffmpeg);
    // With several inputs ffmpeg reads each in its own thread through a queue of 8 packets by
    // default and naps 10 ms whenever it runs dry: thousands of small AAC packets a second need
    // a deep queue, or muxing an hour takes minutes.
    cmd.args(["-thread_queue_size", "65536", "-f", "aac", "-i", "pipe:0"]);
    cmd.args(["-f", "ffmetadata", "-i"]);
    cmd.arg(meta);
    if let Some(cover) = cover {
        cmd.arg("-i").arg(cover);
    }
    cmd.args(["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]);
    if cover.is_some() {
        cmd.args([
            "-map",
            "2:v",
            "-c:v",
            "copy",
            "-disposition:v:0",
            "attached_pic",
        ]);
    }
    cmd.args(["-c:a", "copy", "-movflags", "+faststart", "-f", "mp4"]);
    cmd.arg(out);
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| FfmpegError::Spawn {
        program: ffmpeg.display().to_string(),
        source,
    })?;
    let stdin = child.stdin.take();
    // Fed from a thread of its own while this one waits on ffmpeg (reading its stderr beside),
    // so neither side waits on a full pipe and a cancellation kills ffmpeg mid-feed: the feed
    // then meets a closed pipe and ends.
    std::thread::scope(|s| {
        let feeder = s.spawn(|| match stdin {
            Some(stdin) => feed(stdin, cached, gap),
            None => Ok(()),
        });
        let waited = ffmpeg::wait(child, &format!("writing {}", out.display()), cancel);
        let fed = feeder.join().unwrap_or(Ok(()));
        waited?;
        fed
    })
}

fn feed(
    stdin: std::process::ChildStdin,
    cached: &[Cached],
    gap: Option<&Cached>,
) -> Result<(), M4bError> {
    let mut w = io::BufWriter::with_capacity(64 * 1024, stdin);
    for (i, c) in cached.iter().enumerate() {
        let parts = if i > 0 {
            gap.into_iter().chain(Some(c))
        } else {
            None.into_iter().chain(Some(c))
        };
        for part in parts {
            let file = File::open(&part.path).map_err(|source| M4bError::Io {
                path: part.path.clone(),
                source,
            })?;
            let mut r = BufReader::with_capacity(64 * 1024, file);
            // A broken pipe means ffmpeg stopped early; its own error says why.
            if io::copy(&mut r, &mut w).is_err() {
                return Ok(());
            }
        }
    }
    let _ = w.flush();
    Ok(())
}

/// The ffmetadata file: the book's tags, then a chapter per item in samples at 1/24000.
fn ffmetadata(book: &BookMeta, chapters: &[Chapter], samples: &[(u64, u64)], total: u64) -> String {
    let mut m = String::from(";FFMETADATA1\n");
    let mut tag = |key: &str, value: &str| {
        m.push_str(key);
        m.push('=');
        m.push_str(&escape(value));
        m.push('\n');
    };
    tag("title", &book.title);
    tag("album", &book.title);
    if let Some(a) = &book.author {
        tag("artist", a);
        tag("album_artist", a);
    }
    if let Some(n) = &book.narrator {
        tag("composer", n);
    }
    tag("genre", GENRE);
    for (i, (chapter, &(start, _))) in chapters.iter().zip(samples).enumerate() {
        // A mark runs to the next one, so the marks cover the book, gaps included.
        let end = samples.get(i + 1).map_or(total, |next| next.0);
        m.push_str(&format!(
            "[CHAPTER]\nTIMEBASE=1/{SAMPLE_RATE}\nSTART={start}\nEND={end}\ntitle={}\n",
            escape(&chapter.title)
        ));
    }
    m
}

/// ffmetadata escapes `=`, `;`, `#`, `\` and newlines with a backslash.
fn escape(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '=' | ';' | '#' | '\\' | '\n') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// Removes cached encodings that are not in `keep` (chapters edited or gone).
fn prune(cache: &Path, keep: &[&Path]) {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "aac") && !keep.contains(&path.as_path()) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::book::cover::Cover;
    use crate::book::probe;

    fn chapters(dir: &Path, lengths: &[u64], tag: &str) -> Vec<Chapter> {
        lengths
            .iter()
            .enumerate()
            .map(|(i, &ms)| {
                let (bytes, _) = crate::audio::synth::audio("mp3", ms);
                let path = dir.join(format!("{i:02}.mp3"));
                std::fs::write(&path, bytes).unwrap();
                Chapter {
                    title: format!("Chapter {}; “{}” = #{i}", i + 1, tag),
                    path,
                    fingerprint: format!("fp{i}{tag}{ms}"),
                }
            })
            .collect()
    }

    #[test]
    fn chapters_tags_cover_and_cache() {
        let dir = tempfile::tempdir().unwrap();
        let ffmpeg = ffmpeg::find().unwrap();
        let cache = dir.path().join("tts-batch.book");
        let book = BookMeta {
            title: "A Book".into(),
            author: Some("Someone".into()),
            narrator: Some("Alloy".into()),
            cover: Some(Arc::new(
                Cover::from_bytes(crate::book::cover::tests::jpeg()).unwrap(),
            )),
        };
        let mut list = chapters(dir.path(), &[1500, 4000, 800], "x");
        let out = dir.path().join("a-book.m4b");
        let never = CancellationToken::new();
        let build =
            |list: &[Chapter]| write(&ffmpeg, &cache, list, 2000, &book, &out, &never).unwrap();
        let built = build(&list);
        assert_eq!(built.encoded, 4, "three chapters and the gap");
        let info = probe::probe(&out);
        assert_eq!(info.chapters.len(), 3);
        for (i, (title, start, end)) in info.chapters.iter().enumerate() {
            assert_eq!(title, &list[i].title);
            let span = built.layout.chapters[i];
            assert!(
                (start - span.start).abs() < 0.001,
                "{i}: {start} vs {span:?}"
            );
            assert!((end - built.layout.mark_end(i)).abs() < 0.001, "{i}: {end}");
        }
        // Marks are where the audio is: chapter lengths plus ~2 s gaps, within AAC framing.
        let starts: Vec<f64> = info.chapters.iter().map(|c| c.1).collect();
        assert!(
            (starts[1] - 3.5).abs() < 0.2 && (starts[2] - 9.5).abs() < 0.3,
            "{starts:?}"
        );
        for (k, v) in [
            ("title", "A Book"),
            ("album", "A Book"),
            ("artist", "Someone"),
            ("composer", "Alloy"),
            ("genre", "Audiobook"),
        ] {
            assert_eq!(
                info.tags.get(k).map(String::as_str),
                Some(v),
                "{k}: {:?}",
                info.tags
            );
        }
        assert!(info.has_cover);
        assert!(
            (info.duration - built.layout.seconds).abs() < 0.05,
            "{} vs {}",
            info.duration,
            built.layout.seconds
        );

        // Rebuild after the middle chapter changed: one encoding, and the old one is gone.
        let (bytes, _) = crate::audio::synth::audio("mp3", 2500);
        std::fs::write(&list[1].path, bytes).unwrap();
        list[1].fingerprint = "fp1changed".into();
        let before = std::fs::read_dir(&cache).unwrap().count();
        let rebuilt = build(&list);
        assert_eq!(rebuilt.encoded, 1);
        assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 4, "{before}");
        let info = probe::probe(&out);
        assert!(
            (info.chapters[2].1 - 8.0).abs() < 0.3,
            "{:?}",
            info.chapters
        );
        // No temporary files left in the cache.
        assert!(
            std::fs::read_dir(&cache)
                .unwrap()
                .flatten()
                .all(|e| !e.file_name().to_string_lossy().ends_with(".tts-tmp"))
        );
    }

    #[test]
    fn escapes_metadata() {
        assert_eq!(escape("a=b;c#d\\e\nf"), "a\\=b\\;c\\#d\\\\e\\\nf");
    }
}
