//! `--subtitles srt|vtt`: cues timed from the measured lengths of an item's pieces (pauses
//! between them counted), a cue per sentence group of at most [`MAX_CUE_CHARS`] characters, each
//! piece's time shared among its cues by their length in characters. Cues run in order, never
//! overlap, and cover the whole file: each one lasts until the next begins. The book's cues
//! are its chapters' cues moved to where each chapter sits.

use std::io::{self, Write};

use super::layout::{Layout, to_ms};
use crate::plan::chunk;
pub use crate::settings::SubtitleFormat;

/// Longer cues are hard to read on a phone; sentences are packed up to this.
pub const MAX_CUE_CHARS: usize = 120;

/// A piece of an item: its text and its audio's measured length.
#[derive(Debug, Clone)]
pub struct PieceTiming {
    pub text: String,
    pub seconds: f64,
}

/// A timed cue, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// The cues of an item file of `total` seconds made of `pieces` with `pause` seconds between
/// them. Times are scaled so the last cue ends at `total` (the file's own measured length).
pub fn item_cues(pieces: &[PieceTiming], pause: f64, total: f64) -> Vec<Cue> {
    let nominal: f64 = pieces.iter().map(|p| p.seconds.max(0.0)).sum::<f64>()
        + pause.max(0.0) * pieces.len().saturating_sub(1) as f64;
    let scale = if nominal > 0.0 && total > 0.0 {
        total / nominal
    } else {
        1.0
    };
    let mut cues = Vec::new();
    let mut at = 0.0;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            at += pause.max(0.0) * scale;
        }
        let len = piece.seconds.max(0.0) * scale;
        let parts = cue_texts(&piece.text);
        let chars: usize = parts.iter().map(|t| t.chars().count()).sum();
        let mut within = 0usize;
        for text in parts {
            let start = at + len * within as f64 / chars.max(1) as f64;
            within += text.chars().count();
            let end = at + len * within as f64 / chars.max(1) as f64;
            cues.push(Cue { start, end, text });
        }
        at += len;
    }
    close_gaps(&mut cues, total.max(at));
    cues
}

/// Each cue lasts until the next starts; the last until `end`.
fn close_gaps(cues: &mut [Cue], end: f64) {
    for i in 0..cues.len() {
        let next = cues.get(i + 1).map_or(end, |c| c.start);
        cues[i].end = next;
    }
}

/// Moves an item's cues into the book: chapter `i` of `layout` starts at its span, its cues are
/// scaled to the chapter's length there, and its last cue lasts until the next chapter's mark.
pub fn book_cues(item: Vec<Cue>, layout: &Layout, i: usize) -> Vec<Cue> {
    let Some(span) = layout.chapters.get(i) else {
        return Vec::new();
    };
    let item_len = item.last().map_or(0.0, |c| c.end);
    let scale = if item_len > 0.0 {
        (span.end - span.start) / item_len
    } else {
        1.0
    };
    let mut cues: Vec<Cue> = item
        .into_iter()
        .map(|c| Cue {
            start: span.start + c.start * scale,
            end: span.start + c.end * scale,
            text: c.text,
        })
        .collect();
    close_gaps(&mut cues, layout.mark_end(i));
    cues
}

/// A piece's text as cues: whitespace (paragraph breaks included) folded to single spaces,
/// then cut as requests are ([`chunk::split`]: sentences packed up to [`MAX_CUE_CHARS`], long
/// ones at clause ends, then between words).
fn cue_texts(text: &str) -> Vec<String> {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    chunk::split(&folded, MAX_CUE_CHARS)
}

/// Writes cues as SRT or WebVTT.
pub fn write(
    format: SubtitleFormat,
    cues: impl IntoIterator<Item = Cue>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut writer = Writer::start(format, out)?;
    for cue in cues {
        writer.cue(out, &cue)?;
    }
    Ok(())
}

/// Writes cues one at a time (a book's, chapter by chapter), numbering them.
pub struct Writer {
    format: SubtitleFormat,
    written: usize,
}

impl Writer {
    /// Writes the file's header, if its format has one.
    pub fn start(format: SubtitleFormat, out: &mut dyn Write) -> io::Result<Writer> {
        if format == SubtitleFormat::Vtt {
            out.write_all(b"WEBVTT\n\n")?;
        }
        Ok(Writer { format, written: 0 })
    }

    /// Writes the next cue.
    pub fn cue(&mut self, out: &mut dyn Write, cue: &Cue) -> io::Result<()> {
        self.written += 1;
        let (start, end) = (to_ms(cue.start), to_ms(cue.end));
        match self.format {
            SubtitleFormat::Srt => writeln!(
                out,
                "{}\n{} --> {}\n{}\n",
                self.written,
                stamp(start, ','),
                stamp(end, ','),
                cue.text
            ),
            SubtitleFormat::Vtt => {
                let text = cue
                    .text
                    .replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;");
                writeln!(
                    out,
                    "{} --> {}\n{}\n",
                    stamp(start, '.'),
                    stamp(end, '.'),
                    text
                )
            }
        }
    }
}

/// `hh:mm:ss,mmm` (SRT) or `hh:mm:ss.mmm` (WebVTT).
fn stamp(ms: u64, sep: char) -> String {
    let (h, m, s, f) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}{sep}{f:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces() -> Vec<PieceTiming> {
        vec![
            PieceTiming {
                text: "Alice was beginning to get very tired. So she was considering.".into(),
                seconds: 4.0,
            },
            PieceTiming {
                text: "There was nothing so very remarkable in that.\n\nThe rabbit <ran> & ran."
                    .into(),
                seconds: 6.0,
            },
        ]
    }

    #[test]
    fn cues_cover_the_file_in_order_without_overlap() {
        let cues = item_cues(&pieces(), 0.5, 10.5);
        assert_eq!(cues.first().unwrap().start, 0.0);
        assert!((cues.last().unwrap().end - 10.5).abs() < 1e-9);
        for w in cues.windows(2) {
            assert!(w[0].start < w[0].end && w[0].end == w[1].start, "{w:?}");
        }
        // The second piece starts after the first and the pause.
        assert!(
            cues.iter()
                .any(|c| (c.start - 4.5).abs() < 1e-9 && c.text.starts_with("There")),
            "{cues:?}"
        );
        // Measured length wins: scaled to a file 10% longer.
        let scaled = item_cues(&pieces(), 0.5, 11.55);
        assert!((scaled.last().unwrap().end - 11.55).abs() < 1e-9);
    }

    #[test]
    fn long_text_is_cut_into_readable_cues() {
        let text = "word ".repeat(100) + "end. 漢字".repeat(50).as_str();
        let cues = item_cues(
            &[PieceTiming {
                text,
                seconds: 60.0,
            }],
            0.0,
            60.0,
        );
        assert!(cues.len() > 4);
        assert!(
            cues.iter().all(|c| c.text.chars().count() <= MAX_CUE_CHARS),
            "{cues:?}"
        );
    }

    #[test]
    fn srt_and_vtt_text() {
        let cues = item_cues(&pieces(), 0.0, 10.0);
        let mut srt = Vec::new();
        write(SubtitleFormat::Srt, cues.clone(), &mut srt).unwrap();
        let srt = String::from_utf8(srt).unwrap();
        assert!(
            srt.starts_with("1\n00:00:00,000 --> 00:00:04,000\nAlice was beginning"),
            "{srt}"
        );
        let mut vtt = Vec::new();
        write(SubtitleFormat::Vtt, cues, &mut vtt).unwrap();
        let vtt = String::from_utf8(vtt).unwrap();
        assert!(vtt.starts_with("WEBVTT\n\n00:00:00.000 --> "), "{vtt}");
        assert!(
            vtt.contains("The rabbit &lt;ran&gt; &amp; ran.") && vtt.trim_end().ends_with("ran."),
            "{vtt}"
        );
        assert!(vtt.contains("--> 00:00:10.000"));
        assert_eq!(stamp(3_723_456, ','), "01:02:03,456");
    }

    #[test]
    fn book_cues_sit_in_their_chapter() {
        let layout = Layout::from_lengths([10.0, 5.0], 2.0);
        let item = item_cues(&pieces(), 0.0, 10.0);
        let cues = book_cues(item, &layout, 1);
        assert!((cues[0].start - 12.0).abs() < 1e-9);
        assert!((cues.last().unwrap().end - 17.0).abs() < 1e-9);
        let first = book_cues(item_cues(&pieces(), 0.0, 10.0), &layout, 0);
        assert!(
            (first.last().unwrap().end - 12.0).abs() < 1e-9,
            "covers the gap up to the next mark"
        );
    }
}
