//! How long a run will take: the one estimate `plan` prints, as text and as JSON.
//!
//! A run is held back by whichever is slowest: the request rate (`--rpm`), the character rate
//! (`--cpm`), or the answers themselves (`-j` requests in flight, each taking as long as the
//! server needs to send the whole audio). The first two are the user's own limits and exact;
//! the third rests on a typical answer time per model, which is an assumption (see
//! [`answer_seconds`]).

/// A typical time for a whole answer, from the request leaving to the last audio byte: a fixed
/// latency plus a time per input character (a longer text is more audio to generate and to
/// send).
///
/// These are round assumptions, not measurements: this project has no access to the real API
/// to measure it. OpenAI describes tts-1 as the model made for low latency and tts-1-hd as the
/// slower one made for quality; gpt-4o-mini-tts sits between them. The figures give a short
/// line (100 characters) about 1.5 s (tts-1), 3 s (tts-1-hd) and 2 s (gpt-4o-mini-tts), and a
/// full 4096-character piece about 22 s, 43 s and 22 s. Models this table does not know (a
/// relay's) are taken at tts-1's figures.
pub fn answer_seconds(model: &str, characters: usize) -> f64 {
    let (latency, per_char) = answer_figures(model);
    latency + per_char * characters as f64
}

/// (fixed latency in seconds, seconds per input character) of a model; see [`answer_seconds`].
/// The offline voice (`espeak-ng`) is measured, not assumed: the benchmark's 20-chapter book
/// ran at about 4,600 characters a second in one process on the 2-core build machine (speech
/// and mp3 encoding), plus a process start per piece.
///
/// Piper (the `en_US-joe-medium` voice, a "medium" model like most) is measured the same way:
/// one warm process spoke Alice's first 4,104 characters in 29 CPU-seconds, about 140
/// characters per CPU-second; its voice loads once per worker, so a piece costs only its
/// characters.
pub fn answer_figures(model: &str) -> (f64, f64) {
    if model == crate::domain::ESPEAK_MODEL {
        (0.05, 0.0002)
    } else if model == crate::domain::PIPER_MODEL {
        (0.05, 1.0 / PIPER_CPS)
    } else if model.starts_with("tts-1-hd") {
        (2.0, 0.010)
    } else if model.starts_with("gpt-4o-mini-tts") {
        (1.5, 0.005)
    } else {
        (1.0, 0.005)
    }
}

/// Characters per CPU-second one warm `piper` process speaks (see [`answer_figures`]).
const PIPER_CPS: f64 = 140.0;

/// What a run has to send, summed while planning.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Workload {
    /// Requests to send.
    pub requests: usize,
    /// Input characters of those requests.
    pub characters: usize,
    /// The sum of the requests' typical answer times ([`answer_seconds`]).
    pub answer_seconds: f64,
}

impl Workload {
    /// Adds one request of `characters` for `model`.
    pub fn add(&mut self, model: &str, characters: usize) {
        self.requests += 1;
        self.characters += characters;
        self.answer_seconds += answer_seconds(model, characters);
    }
}

/// The limits a run keeps to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Requests per minute (`--rpm`; for `auto`, the rate it starts at).
    pub rpm: u32,
    /// Input characters per minute (`--cpm`), if limited.
    pub cpm: Option<u32>,
    /// Requests in flight at once (`-j`).
    pub concurrency: usize,
}

/// Which limit an estimate is held by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// `--rpm`.
    Rpm,
    /// `--cpm`.
    Cpm,
    /// `-j` and the typical answer time.
    Concurrency,
}

/// An estimated duration and the limit that sets it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub seconds: f64,
    pub bound: Bound,
}

/// How long sending `work` takes at `pace`: the slowest of the three limits. Retries, 429
/// pauses and joining files are not counted.
pub fn estimate(work: &Workload, pace: &Pace) -> Estimate {
    let by_rpm = work.requests as f64 * 60.0 / f64::from(pace.rpm.max(1));
    let by_cpm = pace
        .cpm
        .map_or(0.0, |c| work.characters as f64 * 60.0 / f64::from(c.max(1)));
    let by_answers = work.answer_seconds / pace.concurrency.max(1) as f64;
    let mut best = Estimate {
        seconds: by_rpm,
        bound: Bound::Rpm,
    };
    for (seconds, bound) in [(by_cpm, Bound::Cpm), (by_answers, Bound::Concurrency)] {
        if seconds > best.seconds {
            best = Estimate { seconds, bound };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(model: &str, pieces: &[usize]) -> Workload {
        let mut w = Workload::default();
        for &chars in pieces {
            w.add(model, chars);
        }
        w
    }

    #[test]
    fn the_request_rate_holds_short_lines() {
        // 40 short lines at 50 rpm: 48 s; four at once answer them in about 15 s.
        let w = work("tts-1", &[100; 40]);
        let pace = Pace {
            rpm: 50,
            cpm: None,
            concurrency: 4,
        };
        assert_eq!(
            estimate(&w, &pace),
            Estimate {
                seconds: 48.0,
                bound: Bound::Rpm
            }
        );
    }

    #[test]
    fn one_worker_is_held_by_the_answers() {
        // 10 full pieces at tts-1-hd, one at a time: 10 × (2 + 40.96) s.
        let w = work("tts-1-hd", &[4096; 10]);
        let pace = Pace {
            rpm: 50,
            cpm: None,
            concurrency: 1,
        };
        let e = estimate(&w, &pace);
        assert_eq!(e.bound, Bound::Concurrency);
        assert!((e.seconds - 429.6).abs() < 1e-9, "{}", e.seconds);
    }

    #[test]
    fn a_character_limit_can_hold_the_run() {
        let w = work("tts-1", &[1000; 6]);
        let pace = Pace {
            rpm: 500,
            cpm: Some(1000),
            concurrency: 8,
        };
        assert_eq!(
            estimate(&w, &pace),
            Estimate {
                seconds: 360.0,
                bound: Bound::Cpm
            }
        );
    }

    #[test]
    fn nothing_to_send_takes_no_time() {
        let pace = Pace {
            rpm: 50,
            cpm: Some(10),
            concurrency: 4,
        };
        assert_eq!(estimate(&Workload::default(), &pace).seconds, 0.0);
    }

    #[test]
    fn espeak_speaks_a_book_in_seconds() {
        // Alice's 147,757 characters in 41 pieces: about 30 s in one process, as measured.
        let mut w = Workload::default();
        for _ in 0..41 {
            w.add(crate::domain::ESPEAK_MODEL, 3604);
        }
        assert!(
            (w.answer_seconds - 31.6).abs() < 0.1,
            "{}",
            w.answer_seconds
        );
    }

    #[test]
    fn piper_speaks_at_its_measured_pace() {
        let mut w = Workload::default();
        w.add(crate::domain::PIPER_MODEL, 14_000);
        assert!(
            (w.answer_seconds - 100.05).abs() < 0.01,
            "{}",
            w.answer_seconds
        );
    }

    #[test]
    fn unknown_models_answer_like_tts_1() {
        assert_eq!(answer_figures("my-relay-voice"), answer_figures("tts-1"));
        assert!((answer_seconds("tts-1", 100) - 1.5).abs() < 1e-9);
        assert!((answer_seconds("tts-1-hd", 100) - 3.0).abs() < 1e-9);
        assert!((answer_seconds("gpt-4o-mini-tts", 100) - 2.0).abs() < 1e-9);
    }
}
