//! Audio checks: whether an answer's length fits the time its text should take to speak.
//!
//! A truncated answer that is still valid audio (a cut-off stream, silence, a few words of a
//! long text) or a rambling one passes every format check, so its length is compared with the
//! text's: characters per second for the text's script (Latin and other alphabets, or CJK,
//! which is spoken at a few characters a second), over the request's speed. Before the run has
//! answers, the rate is a prior (about 14 characters a second for English, 4.5 for Chinese) and
//! only answers far from it (6×) are doubted, since voices and relays differ; once it has
//! answers, the rate is the median of this run's own answers for that script and answers off
//! by 2× (shorter) or 2.5× (longer) are doubted. The median is not moved by a few bad answers.

use std::collections::VecDeque;

/// A text's characters by script, which set how long it takes to speak.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TextShape {
    /// Characters of alphabetic scripts, digits and punctuation (not whitespace).
    pub latin: u64,
    /// Han, kana, Hangul and CJK punctuation.
    pub cjk: u64,
}

impl TextShape {
    /// Counts `text`'s characters by script; whitespace is not spoken and is not counted.
    pub fn of(text: &str) -> TextShape {
        let mut shape = TextShape::default();
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            if is_cjk(c) {
                shape.cjk += 1;
            } else {
                shape.latin += 1;
            }
        }
        shape
    }

    /// The script most of the text is in.
    fn script(&self) -> Script {
        if self.cjk > self.latin {
            Script::Cjk
        } else {
            Script::Latin
        }
    }
}

fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x1100..=0x11FF      // Hangul Jamo
        | 0x2E80..=0x2FDF    // CJK radicals
        | 0x3000..=0x303F    // CJK symbols and punctuation
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xFF00..=0xFFEF    // full-width forms
        | 0x20000..=0x2FA1F) // CJK extensions B and later
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Script {
    Latin,
    Cjk,
}

/// Characters per second before any answer: English speech at about 150 words a minute, and
/// Mandarin at about 4.5 syllables (characters) a second.
const PRIOR_LATIN: f64 = 14.0;
const PRIOR_CJK: f64 = 4.5;
/// How far from the prior an answer may be before it is doubted.
const PRIOR_FACTOR: f64 = 6.0;
/// How much shorter or longer than the calibrated rate says an answer may be.
const SHORT_FACTOR: f64 = 2.0;
const LONG_FACTOR: f64 = 2.5;
/// Leeway for short texts, whose answers are mostly the voice's pauses at either end.
const SHORT_SLACK_SECONDS: f64 = 0.3;
const LONG_SLACK_SECONDS: f64 = 2.0;
/// Answers kept per script for the median: the latest ones.
const KEPT: usize = 101;

/// What a check says of an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// The length fits the text.
    Fits,
    /// Far shorter than the text should take.
    TooShort { expected: f64 },
    /// Far longer than the text should take.
    TooLong { expected: f64 },
}

impl Verdict {
    /// A warning for the report: what was expected and what came.
    pub fn warning(&self, seconds: f64, characters: u64) -> Option<String> {
        let (what, expected) = match self {
            Verdict::Fits => return None,
            Verdict::TooShort { expected } => ("too short", expected),
            Verdict::TooLong { expected } => ("too long", expected),
        };
        Some(format!(
            "audio {what}: {seconds:.1}s for {characters} characters, expected about {expected:.1}s"
        ))
    }
}

/// The run's speaking rates, learnt from its answers.
#[derive(Debug, Default)]
pub struct Calibration {
    latin: VecDeque<f64>,
    cjk: VecDeque<f64>,
}

impl Calibration {
    fn rates(&self, script: Script) -> &VecDeque<f64> {
        match script {
            Script::Latin => &self.latin,
            Script::Cjk => &self.cjk,
        }
    }

    /// The median rate of the script's answers, if there are any.
    fn median(&self, script: Script) -> Option<f64> {
        let mut rates: Vec<f64> = self.rates(script).iter().copied().collect();
        if rates.is_empty() {
            return None;
        }
        rates.sort_by(f64::total_cmp);
        Some(rates[rates.len() / 2])
    }

    fn rate(&self, script: Script) -> (f64, bool) {
        match (self.median(script), script) {
            (Some(rate), _) => (rate, true),
            (None, Script::Latin) => (PRIOR_LATIN, false),
            (None, Script::Cjk) => (PRIOR_CJK, false),
        }
    }

    /// Seconds `shape` should take at `speed`.
    pub fn expected(&self, shape: TextShape, speed: f64) -> f64 {
        let (latin, _) = self.rate(Script::Latin);
        let (cjk, _) = self.rate(Script::Cjk);
        let speed = if speed > 0.0 { speed } else { 1.0 };
        (shape.latin as f64 / latin + shape.cjk as f64 / cjk) / speed
    }

    /// Whether `seconds` of audio fits a text of `shape` spoken at `speed`.
    pub fn judge(&self, shape: TextShape, speed: f64, seconds: f64) -> Verdict {
        let expected = self.expected(shape, speed);
        let (_, calibrated) = self.rate(shape.script());
        let (short, long) = if calibrated {
            (SHORT_FACTOR, LONG_FACTOR)
        } else {
            (PRIOR_FACTOR, PRIOR_FACTOR)
        };
        if seconds < expected / short - SHORT_SLACK_SECONDS {
            Verdict::TooShort { expected }
        } else if seconds > expected * long + LONG_SLACK_SECONDS {
            Verdict::TooLong { expected }
        } else {
            Verdict::Fits
        }
    }

    /// Learns from an answer taken to be right: its rate joins its script's.
    pub fn observe(&mut self, shape: TextShape, speed: f64, seconds: f64) {
        let chars = shape.latin + shape.cjk;
        // Too little text says more about the voice's pauses than its rate.
        if chars < 20 || seconds <= 0.0 {
            return;
        }
        let speed = if speed > 0.0 { speed } else { 1.0 };
        let rate = chars as f64 / (seconds * speed);
        let rates = match shape.script() {
            Script::Latin => &mut self.latin,
            Script::Cjk => &mut self.cjk,
        };
        if rates.len() >= KEPT {
            rates.pop_front();
        }
        rates.push_back(rate);
    }
}

/// What to do with an answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    /// Keep it.
    Keep,
    /// Doubted for the first time (the warning says why): request the piece once more.
    AskAgain(String),
    /// Doubted again: keep it with this warning.
    KeepWithWarning(String),
}

/// Decides on an answer of `seconds` for a text of `characters`, given the verdict and the
/// length of the doubted answer before it (`previous`, on a second attempt).
pub fn decide(verdict: &Verdict, seconds: f64, characters: u64, previous: Option<f64>) -> Decision {
    match (verdict.warning(seconds, characters), previous) {
        (None, _) => Decision::Keep,
        (Some(warning), None) => Decision::AskAgain(warning),
        (Some(warning), Some(_)) => Decision::KeepWithWarning(warning),
    }
}

/// Whether the run learns its speaking rate from an answer: one kept without doubt does, and so
/// does one doubted twice whose two answers agree (within 15%): then the voice really takes
/// that long, and the run had the wrong idea of it.
pub fn teaches(decision: &Decision, seconds: f64, previous: Option<f64>) -> bool {
    match (decision, previous) {
        (Decision::Keep, _) => true,
        (Decision::KeepWithWarning(_), Some(before)) => {
            (seconds - before).abs() <= 0.15 * seconds.max(before)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENGLISH: &str = "Alice was beginning to get very tired of sitting by her sister on the \
        bank, and of having nothing to do: once or twice she had peeped into the book her sister \
        was reading, but it had no pictures or conversations in it.";
    const CHINESE: &str = "话说天下大势，分久必合，合久必分。周末七国分争，并入于秦。及秦灭之后，\
        楚、汉分争，又并入于汉。汉朝自高祖斩白蛇而起义，一统天下，后来光武中兴，传至献帝，遂分为三国。";

    #[test]
    fn scripts_are_counted() {
        let shape = TextShape::of("Hello, 世界! ok");
        assert_eq!(shape, TextShape { latin: 9, cjk: 2 });
        assert_eq!(TextShape::of(CHINESE).script(), Script::Cjk);
        assert_eq!(TextShape::of(ENGLISH).script(), Script::Latin);
    }

    #[test]
    fn the_prior_doubts_only_answers_far_off() {
        let c = Calibration::default();
        let shape = TextShape::of(ENGLISH);
        let expected = c.expected(shape, 1.0);
        assert!(
            (expected - shape.latin as f64 / 14.0).abs() < 1e-9,
            "{expected}"
        );
        assert_eq!(c.judge(shape, 1.0, expected), Verdict::Fits);
        // A voice twice as fast, or half as fast, as the prior: fine.
        assert_eq!(c.judge(shape, 1.0, expected / 2.0), Verdict::Fits);
        assert_eq!(c.judge(shape, 1.0, expected * 2.0), Verdict::Fits);
        // A few words of it, or silence: doubted.
        assert!(matches!(c.judge(shape, 1.0, 1.0), Verdict::TooShort { .. }));
        assert!(matches!(
            c.judge(shape, 1.0, 0.05),
            Verdict::TooShort { .. }
        ));
        assert!(matches!(
            c.judge(shape, 1.0, expected * 8.0),
            Verdict::TooLong { .. }
        ));
        // Speed counts: at 4× the text takes a quarter of the time.
        assert_eq!(c.judge(shape, 4.0, expected / 4.0), Verdict::Fits);
        // Chinese is spoken at a few characters a second.
        let chinese = TextShape::of(CHINESE);
        let expected = c.expected(chinese, 1.0);
        assert!((expected - chinese.cjk as f64 / 4.5).abs() < 1.0);
        assert_eq!(c.judge(chinese, 1.0, expected * 0.8), Verdict::Fits);
    }

    #[test]
    fn the_run_calibrates_and_then_catches_a_third() {
        let mut c = Calibration::default();
        let shape = TextShape::of(ENGLISH);
        // This voice speaks 20 characters a second (faster than the prior).
        let right = (shape.latin as f64) / 20.0;
        // Before calibration a third of the right length is 60 characters a second: below the
        // prior's doubt at 84.
        for _ in 0..5 {
            assert_eq!(c.judge(shape, 1.0, right), Verdict::Fits);
            c.observe(shape, 1.0, right);
        }
        assert!((c.expected(shape, 1.0) - right).abs() < 1e-9);
        assert!(matches!(
            c.judge(shape, 1.0, right / 3.0),
            Verdict::TooShort { .. }
        ));
        assert!(matches!(
            c.judge(shape, 1.0, right * 3.0),
            Verdict::TooLong { .. }
        ));
        assert_eq!(c.judge(shape, 1.0, right * 0.7), Verdict::Fits);
        // A few bad answers do not move the median.
        c.observe(shape, 1.0, right / 3.0);
        c.observe(shape, 1.0, right / 3.0);
        assert!(matches!(
            c.judge(shape, 1.0, right / 3.0),
            Verdict::TooShort { .. }
        ));
        // Chinese has its own rate and is judged by the prior until it has answers.
        let chinese = TextShape::of(CHINESE);
        assert_eq!(
            c.judge(chinese, 1.0, chinese.cjk as f64 / 4.0),
            Verdict::Fits
        );
    }

    #[test]
    fn short_texts_have_leeway() {
        let c = Calibration::default();
        let title = TextShape::of("Chapter 1.");
        assert_eq!(c.judge(title, 1.0, 0.4), Verdict::Fits);
        assert_eq!(c.judge(title, 1.0, 2.5), Verdict::Fits);
    }

    #[test]
    fn decisions() {
        let short = Verdict::TooShort { expected: 10.0 };
        assert_eq!(decide(&Verdict::Fits, 9.0, 140, None), Decision::Keep);
        assert!(teaches(&Decision::Keep, 9.0, None));
        let again = decide(&short, 3.0, 140, None);
        assert!(matches!(again, Decision::AskAgain(_)));
        assert!(!teaches(&again, 3.0, None));
        let kept = decide(&short, 3.0, 140, Some(3.2));
        assert_eq!(
            kept,
            Decision::KeepWithWarning(
                "audio too short: 3.0s for 140 characters, expected about 10.0s".into()
            )
        );
        assert!(teaches(&kept, 3.0, Some(3.2)), "two answers agree");
        assert!(!teaches(&kept, 3.0, Some(1.0)), "two answers differ");
    }
}
