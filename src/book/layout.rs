//! Where each chapter sits in the book: its audio's start and end, with `--chapter-gap-ms` of
//! silence after every chapter but the last. Shared by the MP3 and M4B book files, their
//! chapter marks and the book's subtitles.

/// One chapter's place in the book, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    /// Where its audio starts (its chapter mark).
    pub start: f64,
    /// Where its audio ends; the gap (if any) follows.
    pub end: f64,
}

/// The book's chapters in order, and its whole length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub chapters: Vec<Span>,
    pub seconds: f64,
}

impl Layout {
    /// Lays out chapters of these lengths with `gap` seconds between them. (The books take
    /// their layout from what they joined, to the sample; the tests lay one out by hand.)
    #[cfg(test)]
    pub fn from_lengths(lengths: impl IntoIterator<Item = f64>, gap: f64) -> Layout {
        let mut layout = Layout::default();
        let mut at = 0.0;
        for (i, len) in lengths.into_iter().enumerate() {
            if i > 0 {
                at += gap;
            }
            layout.chapters.push(Span {
                start: at,
                end: at + len,
            });
            at += len;
        }
        layout.seconds = at;
        layout
    }

    /// Where chapter `i`'s mark ends: where the next one starts (so marks cover the book).
    pub fn mark_end(&self, i: usize) -> f64 {
        self.chapters
            .get(i + 1)
            .map_or(self.seconds, |next| next.start)
    }
}

/// Seconds to whole milliseconds, as chapter frames store them (saturating, never negative).
pub fn to_ms(seconds: f64) -> u64 {
    let ms = (seconds * 1000.0).round();
    if ms.is_finite() && ms > 0.0 {
        // `as` saturates on floats; the value is finite and non-negative here.
        ms.min(u64::MAX as f64) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_sit_between_chapters_only() {
        let l = Layout::from_lengths([1.0, 2.0, 3.0], 0.5);
        assert_eq!(
            l.chapters,
            vec![
                Span {
                    start: 0.0,
                    end: 1.0
                },
                Span {
                    start: 1.5,
                    end: 3.5
                },
                Span {
                    start: 4.0,
                    end: 7.0
                }
            ]
        );
        assert_eq!(l.seconds, 7.0);
        assert_eq!(l.mark_end(0), 1.5);
        assert_eq!(l.mark_end(2), 7.0);
    }
}
