//! `--book mp3`: the item files joined into one MP3, in Rust, streamed (a 64 KiB buffer, never a
//! whole file in memory): an ID3v2.4 tag with the book's tags, its cover, a CHAP frame per
//! chapter (titled by the item's title, starting where its audio starts) and a CTOC listing
//! them; a Xing/Info frame stating the book's true frame and byte counts with a seek table;
//! each item's audio frames as they are (its own tag and Xing frame left out), and
//! `--chapter-gap-ms` of silent frames of the same stream between chapters.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use id3::TagLike;
use id3::frame::{Chapter, Content, Frame, TableOfContents};

use super::layout::{Layout, to_ms};
use super::meta::BookMeta;
use super::mp3scan::{self, Header, Scan, ScanError};

/// A chapter of the book: an item file and its title.
#[derive(Debug, Clone)]
pub struct ChapterFile {
    pub title: String,
    pub path: PathBuf,
}

/// Why the MP3 book could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Mp3BookError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(
        "{}: {} Hz {}, the book so far is {} Hz {}: an MP3 book needs one stream (use --book m4b)",
        path.display(), found.sample_rate, channels(found), book.sample_rate, channels(book)
    )]
    Mismatch {
        path: PathBuf,
        found: Header,
        book: Header,
    },
    #[error("the book has no chapters")]
    Empty,
    #[error("writing the book: {0}")]
    Write(io::Error),
    #[error("writing the book's tag: {0}")]
    Tag(id3::Error),
}

fn channels(h: &Header) -> &'static str {
    if h.mono { "mono" } else { "stereo" }
}

/// Writes the book made of `chapters` to `out` (a temporary file the caller syncs and renames),
/// returning where each chapter sits. Every chapter file is read twice (scan, copy), in order.
pub fn write(
    chapters: &[ChapterFile],
    gap_ms: u32,
    book: &BookMeta,
    out: &mut impl Write,
) -> Result<Layout, Mp3BookError> {
    let scans = chapters
        .iter()
        .map(|c| mp3scan::scan(&c.path))
        .collect::<Result<Vec<Scan>, _>>()?;
    let Some(first) = scans.first().map(|s| s.first) else {
        return Err(Mp3BookError::Empty);
    };
    for (scan, chapter) in scans.iter().zip(chapters) {
        if !scan.first.same_stream(&first) {
            return Err(Mp3BookError::Mismatch {
                path: chapter.path.clone(),
                found: scan.first,
                book: first,
            });
        }
    }
    let samples = u64::from(first.samples());
    let rate = u64::from(first.sample_rate);
    let silence = silent_frame(&first);
    // Whole frames of silence closest to the gap.
    let gap_frames = (u64::from(gap_ms) * rate + 500 * samples) / (1000 * samples);
    let gaps = u64::try_from(scans.len().saturating_sub(1)).unwrap_or(u64::MAX);
    let frames = scans.iter().map(|s| s.frames).sum::<u64>() + gap_frames * gaps;
    let silence_bytes = gap_frames * silence.len() as u64;
    let audio_bytes = scans.iter().map(|s| s.bytes).sum::<u64>() + silence_bytes * gaps;
    let cbr = scans
        .iter()
        .all(|s| s.constant_bitrate && s.first.bitrate_kbps == first.bitrate_kbps);

    // Chapter times count whole frames, so the marks fall exactly where the audio starts.
    let frame_seconds = samples as f64 / rate as f64;
    let layout = Layout::from_lengths(
        scans.iter().map(|s| s.frames as f64 * frame_seconds),
        gap_frames as f64 * frame_seconds,
    );

    let tag = book_tag(book, chapters, &layout);
    tag.write_to(&mut *out, id3::Version::Id3v24)
        .map_err(Mp3BookError::Tag)?;
    let toc = seek_table(&scans, gap_frames, silence.len() as u64, frames);
    let info = info_frame(&first, cbr, frames, audio_bytes, &toc);
    out.write_all(&info).map_err(Mp3BookError::Write)?;
    for (i, (scan, chapter)) in scans.iter().zip(chapters).enumerate() {
        if i > 0 {
            for _ in 0..gap_frames {
                out.write_all(&silence).map_err(Mp3BookError::Write)?;
            }
        }
        copy_range(&chapter.path, scan.start, scan.bytes, out)?;
    }
    Ok(layout)
}

/// Copies `len` bytes from `start` of the file at `path`.
fn copy_range(path: &Path, start: u64, len: u64, out: &mut impl Write) -> Result<(), Mp3BookError> {
    let io_err = |source| {
        Mp3BookError::Scan(ScanError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut file = File::open(path).map_err(io_err)?;
    file.seek(SeekFrom::Start(start)).map_err(io_err)?;
    let mut r = BufReader::with_capacity(64 * 1024, file).take(len);
    let copied = io::copy(&mut r, out).map_err(Mp3BookError::Write)?;
    if copied != len {
        // The file shrank since it was scanned.
        return Err(io_err(io::ErrorKind::UnexpectedEof.into()));
    }
    Ok(())
}

/// The tag: the book's frames, a CHAP per chapter and a CTOC listing them in order.
fn book_tag(book: &BookMeta, chapters: &[ChapterFile], layout: &Layout) -> id3::Tag {
    let mut tag = super::tags::id3_book_tag(book);
    tag.add_frame(Frame::text("TIT2", book.title.clone()));
    let ids: Vec<String> = (0..chapters.len()).map(|i| format!("ch{i}")).collect();
    for (i, (chapter, span)) in chapters.iter().zip(&layout.chapters).enumerate() {
        tag.add_frame(Chapter {
            element_id: ids[i].clone(),
            start_time: ms32(span.start),
            end_time: ms32(layout.mark_end(i)),
            // No byte offsets: players use the times.
            start_offset: u32::MAX,
            end_offset: u32::MAX,
            frames: vec![Frame::text("TIT2", chapter.title.clone())],
        });
    }
    tag.add_frame(Frame::with_content(
        "CTOC",
        Content::TableOfContents(TableOfContents {
            element_id: "toc".into(),
            top_level: true,
            ordered: true,
            elements: ids,
            frames: vec![Frame::text("TIT2", book.title.clone())],
        }),
    ));
    tag
}

/// CHAP stores milliseconds in 32 bits: 49 days, far past any book; saturate beyond.
fn ms32(seconds: f64) -> u32 {
    u32::try_from(to_ms(seconds)).unwrap_or(u32::MAX)
}

/// A frame of silence in the stream's own format: the same header (no CRC, no padding), all
/// side information zero (no main data, no bit reservoir use), so it decodes to zeros.
pub fn silent_frame(stream: &Header) -> Vec<u8> {
    let mut raw = stream.raw;
    raw[1] |= 1; // no CRC
    raw[2] &= !0b10; // no padding
    let h = Header::parse(raw).unwrap_or(*stream);
    let mut frame = vec![0u8; h.len];
    frame[..4].copy_from_slice(&h.raw);
    frame
}

/// The Xing ("Info" when every frame has one bitrate) frame: frame count, byte count (this frame
/// included, as LAME counts) and the 100-entry seek table. Its bitrate is the stream's when that
/// leaves room for the table, else the lowest that does.
fn info_frame(
    stream: &Header,
    cbr: bool,
    frames: u64,
    audio_bytes: u64,
    toc: &[u8; 100],
) -> Vec<u8> {
    let mut raw = stream.raw;
    raw[1] |= 1;
    raw[2] &= !0b10;
    let need = |h: &Header| 4 + h.side_info_len() + 4 + 4 + 4 + 4 + 100;
    let mut h = Header::parse(raw).unwrap_or(*stream);
    if h.len < need(&h) {
        for index in 1u8..15 {
            raw[2] = (raw[2] & 0x0F) | (index << 4);
            if let Some(candidate) = Header::parse(raw)
                && candidate.len >= need(&candidate)
            {
                h = candidate;
                break;
            }
        }
    }
    let mut f = vec![0u8; h.len.max(need(&h))];
    f[..4].copy_from_slice(&h.raw);
    let mut at = 4 + h.side_info_len();
    let mut put = |bytes: &[u8]| {
        f[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(if cbr { b"Info" } else { b"Xing" });
    put(&0x7u32.to_be_bytes()); // frames, bytes, TOC
    put(&u32::try_from(frames).unwrap_or(u32::MAX).to_be_bytes());
    let total = audio_bytes.saturating_add(f_len(&h));
    put(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    put(toc);
    f
}

fn f_len(h: &Header) -> u64 {
    h.len as u64
}

/// The Xing seek table: for each percent of the duration, the byte position (in 256ths of the
/// audio) where it starts. Positions inside a chapter are interpolated from its frame and byte
/// counts (exact for constant bitrates, close otherwise; the table is coarse by design).
fn seek_table(scans: &[Scan], gap_frames: u64, silence_len: u64, frames: u64) -> [u8; 100] {
    // (frames, bytes) of each stretch, in order: chapter, gap, chapter, ...
    let mut stretches = Vec::with_capacity(scans.len() * 2);
    for (i, s) in scans.iter().enumerate() {
        if i > 0 && gap_frames > 0 {
            stretches.push((gap_frames, gap_frames * silence_len));
        }
        stretches.push((s.frames, s.bytes));
    }
    let bytes: u64 = stretches.iter().map(|s| s.1).sum();
    let mut toc = [0u8; 100];
    if frames == 0 || bytes == 0 {
        return toc;
    }
    let (mut k, mut frames_before, mut bytes_before) = (0usize, 0u64, 0u64);
    for (pct, entry) in toc.iter_mut().enumerate() {
        let target = frames as f64 * pct as f64 / 100.0;
        while let Some(&(f, b)) = stretches.get(k) {
            if (frames_before + f) as f64 > target {
                break;
            }
            frames_before += f;
            bytes_before += b;
            k += 1;
        }
        let within = stretches.get(k).map_or(0.0, |&(f, b)| {
            (target - frames_before as f64) / f.max(1) as f64 * b as f64
        });
        let position = (bytes_before as f64 + within) / bytes as f64 * 256.0;
        *entry = position.clamp(0.0, 255.0) as u8;
    }
    toc
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::book::cover::Cover;
    use crate::book::probe;

    #[test]
    fn chapters_tags_and_length_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut chapters = Vec::new();
        let mut lengths = Vec::new();
        for (i, ms) in [1200u64, 3000, 700].into_iter().enumerate() {
            let (bytes, seconds) = crate::audio::synth::audio("mp3", ms);
            let path = dir.path().join(format!("{i:02}.mp3"));
            std::fs::write(&path, bytes).unwrap();
            chapters.push(ChapterFile {
                title: format!("Chapter {} — “quoted”", i + 1),
                path,
            });
            lengths.push(seconds);
        }
        let book = BookMeta {
            title: "A Book".into(),
            author: Some("Someone".into()),
            narrator: Some("Alloy".into()),
            cover: Some(Arc::new(
                Cover::from_bytes(crate::book::cover::tests::png()).unwrap(),
            )),
            ..BookMeta::default()
        };
        let path = dir.path().join("a-book.mp3");
        let mut out = std::io::BufWriter::new(File::create(&path).unwrap());
        let layout = write(&chapters, 2000, &book, &mut out).unwrap();
        out.flush().unwrap();
        drop(out);

        let gap: f64 = 2.0;
        let frame = 576.0 / 24000.0;
        let gap_real = (gap / frame).round() * frame;
        let expected = lengths.iter().sum::<f64>() + 2.0 * gap_real;
        assert!((layout.seconds - expected).abs() < 1e-9);

        let info = probe::probe(&path);
        assert_eq!(info.chapters.len(), 3);
        let mut start = 0.0;
        for (i, (title, s, e)) in info.chapters.iter().enumerate() {
            assert_eq!(title, &chapters[i].title);
            assert!(
                (s - start).abs() < 0.0011,
                "chapter {i} starts {s}, expected {start}"
            );
            let end = start + lengths[i] + if i < 2 { gap_real } else { 0.0 };
            assert!(
                (e - end).abs() < 0.0011,
                "chapter {i} ends {e}, expected {end}"
            );
            start = end;
        }
        assert_eq!(info.tags.get("album").map(String::as_str), Some("A Book"));
        assert_eq!(info.tags.get("title").map(String::as_str), Some("A Book"));
        assert_eq!(info.tags.get("artist").map(String::as_str), Some("Someone"));
        assert_eq!(info.tags.get("composer").map(String::as_str), Some("Alloy"));
        assert_eq!(
            info.tags.get("genre").map(String::as_str),
            Some("Audiobook")
        );
        assert!(info.has_cover);
        // The header states the true length (no "estimating from bitrate"), and decoding agrees.
        assert!(
            (info.duration - expected).abs() < 0.002,
            "{} vs {expected}",
            info.duration
        );
        let decoded = probe::decoded_seconds(&path);
        assert!(
            (decoded - expected).abs() < 0.002,
            "{decoded} vs {expected}"
        );
        let scan = mp3scan::scan(&path).unwrap();
        assert!((scan.seconds() - expected).abs() < 1e-9);
    }

    #[test]
    fn refuses_mixed_streams_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = crate::audio::synth::audio("mp3", 500);
        let a = dir.path().join("a.mp3");
        std::fs::write(&a, &bytes).unwrap();
        // The same frames relabelled 22050 Hz.
        let mut other = bytes.clone();
        let scan = mp3scan::scan(&a).unwrap();
        let mut at = scan.start as usize;
        while at < other.len() {
            other[at + 2] |= 0b0000_0000;
            other[at + 2] &= !0b0000_1100; // rate index 0 = 22050 for MPEG-2
            at += scan.first.len;
        }
        let b = dir.path().join("b.mp3");
        std::fs::write(&b, &other).unwrap();
        let chapters = [
            ChapterFile {
                title: "a".into(),
                path: a,
            },
            ChapterFile {
                title: "b".into(),
                path: b,
            },
        ];
        let e = write(&chapters, 0, &BookMeta::default(), &mut Vec::new()).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("b.mp3") && e.contains("22050 Hz"), "{e}");
    }
}
