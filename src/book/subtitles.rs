//! `--subtitles srt|vtt`: cues timed from the measured lengths of an item's pieces (pauses
//! between them counted), a cue per sentence group of at most [`MAX_CUE_CHARS`] characters, each
//! piece's time shared among its cues by their length in characters. A piece heard back with
//! `--verify` (SPEC §11) whose transcript has word or segment times places each cue where the
//! transcript's word matching the cue's first word is spoken; cues with no matching word keep
//! the estimate, between their timed neighbours. Cues run in order, never
//! overlap, and cover the whole file: each one lasts until the next begins. The book's cues
//! are its chapters' cues moved to where each chapter sits.

use std::io::{self, Write};

use super::layout::{Layout, to_ms};
use crate::plan::chunk;
pub use crate::settings::SubtitleFormat;
use crate::verify;

/// Longer cues are hard to read on a phone; sentences are packed up to this.
pub const MAX_CUE_CHARS: usize = 120;

/// A piece of an item: its text, its audio's measured length, and when its transcript's
/// words (or segments) are heard, if it was heard back.
#[derive(Debug, Clone)]
pub struct PieceTiming {
    pub text: String,
    pub seconds: f64,
    pub heard: Vec<Heard>,
}

/// A stretch of a transcript and when it is spoken, in seconds from the piece's start.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Heard(pub f64, pub f64, pub String);

/// The stored timings of a piece (`[[start, end, text], ...]`); nothing when absent or broken.
pub fn parse_heard(json: Option<&str>) -> Vec<Heard> {
    json.and_then(|j| serde_json::from_str::<Vec<Heard>>(j).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|Heard(start, end, _)| start.is_finite() && end.is_finite() && *start >= 0.0)
        .collect()
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
        let heard = heard_starts(&parts, &piece.heard);
        let mut within = 0usize;
        for (text, heard) in parts.into_iter().zip(heard) {
            let estimate = len * within as f64 / chars.max(1) as f64;
            // The transcript's time, where it has one that falls inside the piece.
            let offset = heard
                .map(|t| t * scale)
                .filter(|t| (0.0..=len).contains(t))
                .unwrap_or(estimate);
            within += text.chars().count();
            let end = at + len * within as f64 / chars.max(1) as f64;
            cues.push(Cue {
                start: at + offset,
                end,
                text,
            });
        }
        in_order(&mut cues, at);
        at += len;
    }
    close_gaps(&mut cues, total.max(at));
    cues
}

/// When each cue's first matched word is heard, from the transcript's timed stretches: a
/// stretch of several words spreads its time evenly over them. `None` for a cue none of whose
/// words the transcript has (or when the piece was not heard back).
fn heard_starts(cues: &[String], heard: &[Heard]) -> Vec<Option<f64>> {
    if heard.is_empty() {
        return vec![None; cues.len()];
    }
    let mut heard_words = Vec::new();
    let mut heard_at = Vec::new();
    for Heard(start, end, text) in heard {
        let words = verify::words(text);
        let n = words.len().max(1) as f64;
        for (k, word) in words.into_iter().enumerate() {
            heard_words.push(word);
            heard_at.push(start + (end - start).max(0.0) * k as f64 / n);
        }
    }
    let mut text_words = Vec::new();
    let mut first_word = Vec::new();
    for cue in cues {
        first_word.push(text_words.len());
        text_words.extend(verify::words(cue));
    }
    let matched = verify::align(&text_words, &heard_words);
    cues.iter()
        .enumerate()
        .map(|(i, _)| {
            let from = first_word[i];
            let to = first_word.get(i + 1).copied().unwrap_or(text_words.len());
            // The first word of the cue the transcript has; a word later in the cue is moved
            // back by nothing: the cue shows a little late rather than early.
            (from..to)
                .find_map(|w| matched.get(w).copied().flatten())
                .and_then(|h| heard_at.get(h).copied())
        })
        .collect()
}

/// Keeps a piece's cues in order: a cue placed before the one before it (a transcript that
/// went back, or an estimate among timed cues) starts where that one starts.
fn in_order(cues: &mut [Cue], piece_start: f64) {
    let mut floor: Option<f64> = None;
    for cue in cues.iter_mut().filter(|c| c.start >= piece_start - 1e-9) {
        // A millisecond apart at least: no cue of no length.
        cue.start = match floor {
            None => cue.start.max(piece_start),
            Some(before) => cue.start.max(before + 0.001),
        };
        floor = Some(cue.start);
    }
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
                heard: Vec::new(),
            },
            PieceTiming {
                text: "There was nothing so very remarkable in that.\n\nThe rabbit <ran> & ran."
                    .into(),
                seconds: 6.0,
                heard: Vec::new(),
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
                heard: Vec::new(),
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
    fn heard_words_place_the_cues_where_they_are_spoken() {
        let text = "Alice was beginning to get very tired of sitting by her sister on the bank. \
                    So she was considering in her own mind whether it was worth the trouble.";
        let heard = |words: &[(f64, &str)]| {
            words
                .iter()
                .map(|(t, w)| Heard(*t, t + 0.2, (*w).to_owned()))
                .collect::<Vec<_>>()
        };
        // The voice takes long over the first sentence: the estimate by characters would start
        // the second cue near 2 s, the transcript hears "So" at 3.1 s.
        let piece = PieceTiming {
            text: text.into(),
            seconds: 4.0,
            heard: heard(&[
                (0.2, "Alice"),
                (0.6, "was"),
                (1.0, "beginning"),
                (3.1, "So"),
                (3.4, "she"),
            ]),
        };
        let cues = item_cues(std::slice::from_ref(&piece), 0.0, 4.0);
        assert_eq!(cues.len(), 2);
        assert!((cues[0].start - 0.2).abs() < 1e-9, "{cues:?}");
        assert!((cues[1].start - 3.1).abs() < 1e-9, "{cues:?}");
        assert!((cues[0].end - 3.1).abs() < 1e-9);
        // Segments: a segment's time is spread over its words; a misheard first word is passed
        // over for the next one the transcript has.
        let segments = PieceTiming {
            heard: vec![
                Heard(
                    0.0,
                    2.0,
                    " Alice was beginning to get very tired of sitting by her sister on the bank."
                        .into(),
                ),
                Heard(
                    2.5,
                    4.0,
                    " Sew she was considering in her own mind whether it was worth the trouble."
                        .into(),
                ),
            ],
            ..piece.clone()
        };
        let cues = item_cues(&[segments], 0.0, 4.0);
        assert!(
            (cues[1].start - (2.5 + 1.5 / 14.0)).abs() < 1e-9,
            "{cues:?}"
        );
        // Nothing heard in common: the estimate stays.
        let unheard = PieceTiming {
            heard: heard(&[(0.5, "banana")]),
            ..piece.clone()
        };
        let estimate = PieceTiming {
            heard: Vec::new(),
            ..piece
        };
        assert_eq!(
            item_cues(&[unheard], 0.0, 4.0),
            item_cues(&[estimate], 0.0, 4.0)
        );
        assert_eq!(
            parse_heard(Some("[[0.5, 1.0, \"a\"], [\"NaN\", 1, \"b\"]]")),
            vec![]
        );
        assert_eq!(parse_heard(Some("[[0.5, 1.0, \"a\"]]")).len(), 1);
        assert_eq!(parse_heard(None), vec![]);
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
