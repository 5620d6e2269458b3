//! `--book mp3`: the item files joined into one MP3 by `audio::join` (their tags and Xing
//! frames left out, `--chapter-gap-ms` of silent frames of the same stream between them, one
//! Xing/Info frame stating the book's true frame and byte counts with a seek table, and no
//! encoder delay for players to trim: the marks count every frame), behind an ID3v2.4 tag with
//! the book's tags, its cover, a CHAP frame per chapter (titled by the item's title, starting
//! where the join says its audio starts) and a CTOC listing them. The tag is written first with
//! the marks at zero and rewritten in place once the join has counted where the chapters start:
//! a CHAP frame's times are fixed-width, so the tag keeps its size.

use std::io::{self, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use id3::TagLike;
use id3::frame::{Chapter, Content, Frame, TableOfContents};

use super::layout::{Layout, Span, to_ms};
use super::meta::BookMeta;
use crate::audio::{self, AudioError, Ends};
use crate::domain::AudioFormat;

/// A chapter of the book: an item file and its title.
#[derive(Debug, Clone)]
pub struct ChapterFile {
    pub title: String,
    pub path: PathBuf,
}

/// Why the MP3 book could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Mp3BookError {
    #[error("{0}: an MP3 book needs one stream (use --book m4b)")]
    Mismatch(AudioError),
    #[error(transparent)]
    Audio(AudioError),
    #[error("the book has no chapters")]
    Empty,
    #[error("writing the book: {0}")]
    Write(io::Error),
    #[error("writing the book's tag: {0}")]
    Tag(id3::Error),
}

impl From<AudioError> for Mp3BookError {
    fn from(e: AudioError) -> Self {
        match e {
            AudioError::Mismatch { .. } => Mp3BookError::Mismatch(e),
            AudioError::Io(e) => Mp3BookError::Write(e),
            other => Mp3BookError::Audio(other),
        }
    }
}

/// Writes the book made of `chapters` to `out` (a temporary file the caller syncs and renames,
/// written from its current position), returning where each chapter sits. Every chapter file
/// is read once, in order, through the join's buffers.
pub fn write<W: Write + Seek>(
    chapters: &[ChapterFile],
    gap_ms: u32,
    book: &BookMeta,
    mut out: W,
) -> Result<Layout, Mp3BookError> {
    if chapters.is_empty() {
        return Err(Mp3BookError::Empty);
    }
    let tag_at = out.stream_position().map_err(Mp3BookError::Write)?;
    let unmarked = Layout {
        chapters: vec![
            Span {
                start: 0.0,
                end: 0.0
            };
            chapters.len()
        ],
        seconds: 0.0,
    };
    let placeholder = tag_bytes(book, chapters, &unmarked)?;
    out.write_all(&placeholder).map_err(Mp3BookError::Write)?;

    let paths: Vec<PathBuf> = chapters.iter().map(|c| c.path.clone()).collect();
    let gap = Duration::from_millis(u64::from(gap_ms));
    let joined = audio::join(AudioFormat::Mp3, &paths, gap, Ends::EveryFrame, &mut out)?;
    // Chapter times count whole frames, so the marks fall exactly where the audio starts.
    let layout = Layout {
        chapters: joined
            .starts
            .iter()
            .zip(&joined.ends)
            .map(|(&start, &end)| Span { start, end })
            .collect(),
        seconds: joined.seconds,
    };

    let tag = tag_bytes(book, chapters, &layout)?;
    if tag.len() != placeholder.len() {
        return Err(Mp3BookError::Write(io::Error::other(format!(
            "the book's tag changed size from {} to {} bytes once its chapter marks were set",
            placeholder.len(),
            tag.len()
        ))));
    }
    out.seek(SeekFrom::Start(tag_at))
        .and_then(|_| out.write_all(&tag))
        .and_then(|()| out.seek(SeekFrom::End(0)))
        .map_err(Mp3BookError::Write)?;
    Ok(layout)
}

/// The tag, as bytes: the book's frames, a CHAP per chapter and a CTOC listing them in order.
fn tag_bytes(
    book: &BookMeta,
    chapters: &[ChapterFile],
    layout: &Layout,
) -> Result<Vec<u8>, Mp3BookError> {
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
    let mut bytes = Vec::new();
    tag.write_to(&mut bytes, id3::Version::Id3v24)
        .map_err(Mp3BookError::Tag)?;
    Ok(bytes)
}

/// CHAP stores milliseconds in 32 bits: 49 days, far past any book; saturate beyond.
fn ms32(seconds: f64) -> u32 {
    u32::try_from(to_ms(seconds)).unwrap_or(u32::MAX)
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
        };
        let path = dir.path().join("a-book.mp3");
        let mut out = std::fs::File::create(&path).unwrap();
        let layout = write(&chapters, 2000, &book, &mut out).unwrap();
        drop(out);

        // Gaps are whole frames, their rounding carried from gap to gap (as every join's).
        let frame = 576.0 / 24000.0;
        let gaps = |count: f64| (count * 2.0 / frame).round() * frame;
        let expected = lengths.iter().sum::<f64>() + gaps(2.0);
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
            let gap = if i < 2 {
                gaps(i as f64 + 1.0) - gaps(i as f64)
            } else {
                0.0
            };
            let end = start + lengths[i] + gap;
            assert!((layout.chapters[i].start - start).abs() < 1e-9, "{i}");
            assert!(
                (layout.chapters[i].end - (start + lengths[i])).abs() < 1e-9,
                "{i}"
            );
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
        let count = audio::count_frames(AudioFormat::Mp3, &path).unwrap();
        let counted =
            (count.frames * count.samples_per_frame) as f64 / f64::from(count.sample_rate);
        assert!((counted - expected).abs() < 1e-9, "{counted} vs {expected}");
    }

    #[test]
    fn refuses_mixed_streams_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = crate::audio::synth::audio("mp3", 500);
        let a = dir.path().join("a.mp3");
        std::fs::write(&a, &bytes).unwrap();
        // Ten silent frames of MPEG-2 Layer III, 64 kbit/s, 22050 Hz, mono: 208 bytes each.
        let mut frame = vec![0u8; 208];
        frame[..4].copy_from_slice(&[0xFF, 0xF3, 0x80, 0xC0]);
        let b = dir.path().join("b.mp3");
        std::fs::write(&b, frame.repeat(10)).unwrap();
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
        let out = std::io::Cursor::new(Vec::new());
        let e = write(&chapters, 0, &BookMeta::default(), out).unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("b.mp3") && e.contains("22050 Hz") && e.contains("--book m4b"),
            "{e}"
        );
    }
}
