//! Pacing for the whole run: at most `--rpm` requests and `--cpm` characters a minute, spaced
//! evenly, none during a 429 pause, and slower when the server says its limit is lower.
//!
//! One check decides every limit at once, under one lock, and a request leaves the moment it is
//! admitted, so the limits hold at the time of sending, across all workers.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::provider::RateHints;
pub use crate::settings::{AUTO_START_RPM, Rpm};

/// The longest pause a server's rate headers may impose.
const MAX_RESET_PAUSE: Duration = Duration::from_secs(300);
/// After a 429, how long without one before the rate climbs back.
const QUIET_BEFORE_RAISE: Duration = Duration::from_secs(15);
/// How often the rate may climb by a tenth of its target.
const RAISE_EVERY: Duration = Duration::from_secs(5);

const MINUTE: Duration = Duration::from_secs(60);

/// The shared pacer of a run.
pub struct Pacer {
    state: Mutex<PacerState>,
    /// No pacing at all: a local provider has no rate limits.
    unpaced: bool,
}

struct PacerState {
    /// `--rpm`, or None for auto.
    configured: Option<u32>,
    /// What the run aims at: `--rpm`, lowered to what the server advertises.
    target: u32,
    /// The rate in force: the target, or less after a 429 until the rate climbs back.
    effective: u32,
    /// `effective` as GCRA with a burst of one: one request per 60/R seconds, never two at once.
    limiter: DefaultDirectRateLimiter,
    period: Duration,
    clock: DefaultClock,
    last_sent: Option<Instant>,
    /// No request before this: the spacing carried over from an earlier run, or a pause.
    not_before: Instant,
    last_429: Option<Instant>,
    last_raise: Instant,
    cpm: Option<CharWindow>,
}

/// `--cpm`: a piece of n characters delays the next one by n × 60/C seconds (evenness), and the
/// characters of the last 60 seconds plus the next piece never pass C (the minute's cap). A piece
/// larger than C goes alone, when the last minute is empty.
struct CharWindow {
    limit: u64,
    per_char: Duration,
    next_free: Instant,
    sent: VecDeque<(Instant, u64)>,
    in_window: u64,
}

impl CharWindow {
    fn new(limit: u32, now: Instant) -> CharWindow {
        CharWindow {
            limit: u64::from(limit),
            per_char: Duration::from_nanos(60_000_000_000 / u64::from(limit.max(1)) + 1),
            next_free: now,
            sent: VecDeque::new(),
            in_window: 0,
        }
    }

    fn wait(&mut self, now: Instant, chars: u64) -> Option<Duration> {
        while let Some(&(at, n)) = self.sent.front() {
            if now.duration_since(at) >= MINUTE {
                self.sent.pop_front();
                self.in_window -= n;
            } else {
                break;
            }
        }
        if now < self.next_free {
            return Some(self.next_free - now);
        }
        if self.in_window + chars > self.limit && !self.sent.is_empty() {
            // Wait until enough of the window has aged out.
            let mut left = self.in_window;
            for &(at, n) in &self.sent {
                left -= n;
                if left + chars <= self.limit {
                    return Some(
                        (at + MINUTE).saturating_duration_since(now) + Duration::from_millis(1),
                    );
                }
            }
            let newest = self.sent.back().map_or(now, |&(at, _)| at);
            return Some(
                (newest + MINUTE).saturating_duration_since(now) + Duration::from_millis(1),
            );
        }
        None
    }

    fn record(&mut self, at: Instant, chars: u64) {
        self.sent.push_back((at, chars));
        self.in_window += chars;
        self.next_free = at
            + self
                .per_char
                .saturating_mul(chars.min(u64::from(u32::MAX)) as u32);
    }
}

/// The GCRA period of `rpm`: one nanosecond more than 60/R, so that R+1 requests span more than
/// a minute and no 60-second window, however placed, holds more than R.
fn period_of(rpm: u32) -> Duration {
    Duration::from_nanos(60_000_000_000 / u64::from(rpm.max(1)) + 1)
}

fn limiter_for(period: Duration) -> DefaultDirectRateLimiter {
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::MIN);
    RateLimiter::direct(quota)
}

/// The rate to aim at for a server that advertises `limit` requests a minute: a little under
/// it, so that arrival jitter on the wire does not tip an even stream over the server's count.
fn under_advertised(limit: u64) -> u32 {
    let limit = limit.min(u64::from(u32::MAX)) as u32;
    if limit < 60 {
        limit.max(1)
    } else {
        limit - (limit / 50).max(1)
    }
}

impl Pacer {
    /// A pacer for `rpm` and `cpm`. `recent` are the requests of the last minute as (how long
    /// ago, characters), oldest first, so that a resumed run keeps the spacing and the minute's
    /// budget of the run before it. After a crash (`after_crash`), the last requests may have
    /// left without being recorded, so the first request also waits one period from now.
    pub fn new(rpm: Rpm, cpm: Option<u32>, recent: &[(Duration, u64)], after_crash: bool) -> Pacer {
        let configured = match rpm {
            Rpm::Fixed(n) => Some(n.max(1)),
            Rpm::Auto => None,
        };
        let target = configured.unwrap_or(AUTO_START_RPM);
        let period = period_of(target);
        let now = Instant::now();
        let last_sent = recent.last().and_then(|&(ago, _)| now.checked_sub(ago));
        let cpm = cpm.map(|limit| {
            let mut window = CharWindow::new(limit, now);
            for &(ago, chars) in recent {
                if let Some(at) = now.checked_sub(ago) {
                    window.record(at, chars);
                }
            }
            window
        });
        Pacer {
            unpaced: false,
            state: Mutex::new(PacerState {
                configured,
                target,
                effective: target,
                limiter: limiter_for(period),
                period,
                clock: DefaultClock::default(),
                last_sent,
                not_before: match (last_sent, after_crash) {
                    (_, true) => now + period,
                    (Some(t), false) => t + period,
                    (None, false) => now,
                },
                last_429: None,
                last_raise: now,
                cpm,
            }),
        }
    }

    /// A pacer that never waits, for a provider on this machine (espeak-ng): `-j` alone
    /// bounds the work.
    pub fn unpaced() -> Pacer {
        let mut pacer = Pacer::new(Rpm::Fixed(1), None, &[], false);
        pacer.unpaced = true;
        pacer
    }

    /// Waits until a request of `chars` characters may be sent, and counts it as sent.
    pub async fn acquire(&self, chars: usize) {
        if self.unpaced {
            return;
        }
        loop {
            let wait = match self.state.lock() {
                Ok(mut s) => s.try_acquire(Instant::now(), chars as u64),
                Err(_) => None,
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// No worker sends before `now + pause`.
    pub fn pause_for(&self, pause: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.not_before = s.not_before.max(Instant::now() + pause);
        }
    }

    /// A 429 for the rate: slow everyone down by a quarter (and the caller pauses them).
    pub fn rate_limited(&self) {
        if let Ok(mut s) = self.state.lock() {
            let now = Instant::now();
            s.last_429 = Some(now);
            let slower = (s.effective * 3 / 4).max(1);
            if slower < s.effective {
                tracing::info!("rate limited: slowing to {slower} requests per minute");
                s.set_rate(slower, now);
            }
        }
    }

    /// Learns from a response's rate headers: the server's limit lowers (or raises, up to
    /// `--rpm`) the target; no requests left means a pause until the window resets; and a quiet
    /// spell after a 429 lets the rate climb back.
    pub fn observe(&self, hints: &RateHints) {
        let Ok(mut s) = self.state.lock() else { return };
        let now = Instant::now();
        if let Some(limit) = hints.limit_requests.filter(|&l| l > 0) {
            let advertised = under_advertised(limit);
            let target = s.configured.map_or(advertised, |c| c.min(advertised));
            if target != s.target {
                tracing::info!("the server allows {limit} requests per minute: aiming at {target}");
                s.target = target;
                let quiet = s
                    .last_429
                    .is_none_or(|t| now.duration_since(t) >= QUIET_BEFORE_RAISE);
                if target < s.effective || quiet {
                    s.set_rate(target, now);
                }
            }
        }
        if hints.remaining_requests == Some(0)
            && let Some(reset) = hints.reset_requests
        {
            s.not_before = s.not_before.max(now + reset.min(MAX_RESET_PAUSE));
        }
        if s.effective < s.target
            && s.last_429
                .is_none_or(|t| now.duration_since(t) >= QUIET_BEFORE_RAISE)
            && now.duration_since(s.last_raise) >= RAISE_EVERY
        {
            let higher = (s.effective + (s.target / 10).max(1)).min(s.target);
            tracing::info!("no 429 for a while: back up to {higher} requests per minute");
            s.set_rate(higher, now);
        }
    }

    #[cfg(test)]
    /// The rate in force, in requests per minute.
    pub fn effective_rpm(&self) -> u32 {
        self.state.lock().map_or(0, |s| s.effective)
    }
}

impl PacerState {
    fn set_rate(&mut self, rpm: u32, now: Instant) {
        self.effective = rpm;
        self.period = period_of(rpm);
        self.limiter = limiter_for(self.period);
        self.last_raise = now;
        // A new limiter starts empty: keep the spacing from the last request at the new rate.
        if let Some(last) = self.last_sent {
            self.not_before = self.not_before.max(last + self.period);
        }
    }

    fn try_acquire(&mut self, now: Instant, chars: u64) -> Option<Duration> {
        if now < self.not_before {
            return Some(self.not_before - now);
        }
        if let Some(cpm) = self.cpm.as_mut()
            && let Some(wait) = cpm.wait(now, chars)
        {
            return Some(wait);
        }
        // Characters first (a pure check), then the request cell (which a success consumes),
        // so a refusal of either consumes nothing.
        if let Err(not_until) = self.limiter.check() {
            return Some(not_until.wait_time_from(self.clock.now()));
        }
        if let Some(cpm) = self.cpm.as_mut() {
            cpm.record(now, chars);
        }
        self.last_sent = Some(now);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(limit: u64) -> RateHints {
        RateHints {
            limit_requests: Some(limit),
            remaining_requests: Some(limit / 2),
            reset_requests: Some(Duration::from_secs(1)),
        }
    }

    #[test]
    fn requests_are_spaced_by_the_rpm_period() {
        let pacer = Pacer::new(Rpm::Fixed(60), None, &[], false);
        let mut s = pacer.state.lock().unwrap();
        let now = Instant::now();
        assert_eq!(s.try_acquire(now, 10), None);
        let wait = s.try_acquire(now, 10).expect("second request must wait");
        assert!(
            wait > Duration::from_millis(900) && wait <= Duration::from_millis(1001),
            "{wait:?}"
        );
    }

    #[test]
    fn a_resumed_run_keeps_the_spacing_of_the_last() {
        let pacer = Pacer::new(Rpm::Fixed(6), None, &[(Duration::from_secs(2), 10)], false);
        let mut s = pacer.state.lock().unwrap();
        let wait = s
            .try_acquire(Instant::now(), 10)
            .expect("must wait for the previous run's spacing");
        assert!(
            wait > Duration::from_secs(7) && wait <= Duration::from_secs(8),
            "{wait:?}"
        );
    }

    #[test]
    fn an_advertised_limit_lowers_the_rate_and_auto_follows_it() {
        let pacer = Pacer::new(Rpm::Fixed(600), None, &[], false);
        pacer.observe(&hints(300));
        assert_eq!(pacer.effective_rpm(), 294);
        pacer.observe(&hints(1000));
        assert_eq!(pacer.effective_rpm(), 600, "never above --rpm");

        let auto = Pacer::new(Rpm::Auto, None, &[], false);
        assert_eq!(auto.effective_rpm(), AUTO_START_RPM);
        auto.observe(&hints(5000));
        assert_eq!(auto.effective_rpm(), 4900);
    }

    #[test]
    fn a_429_slows_down_and_a_quiet_spell_climbs_back() {
        let pacer = Pacer::new(Rpm::Fixed(400), None, &[], false);
        pacer.rate_limited();
        assert_eq!(pacer.effective_rpm(), 300);
        pacer.observe(&RateHints::default());
        assert_eq!(pacer.effective_rpm(), 300, "no climb right after a 429");
        {
            let mut s = pacer.state.lock().unwrap();
            let past = Instant::now() - QUIET_BEFORE_RAISE - RAISE_EVERY;
            s.last_429 = Some(past);
            s.last_raise = past;
        }
        pacer.observe(&RateHints::default());
        assert_eq!(pacer.effective_rpm(), 340);
    }

    #[test]
    fn characters_never_pass_the_minute_cap() {
        let start = Instant::now();
        let mut w = CharWindow::new(1000, start);
        let mut t = start;
        let mut sent = Vec::new();
        // A minute and a half of 300-character pieces sent as soon as allowed.
        while t < start + Duration::from_secs(90) {
            match w.wait(t, 300) {
                None => {
                    w.record(t, 300);
                    sent.push(t);
                }
                Some(d) => t += d,
            }
        }
        for (i, &a) in sent.iter().enumerate() {
            let in_minute = sent[i..]
                .iter()
                .take_while(|&&b| b.duration_since(a) < MINUTE)
                .count();
            assert!(in_minute * 300 <= 1000, "window at {i}: {in_minute} pieces");
        }
        // A piece larger than the whole minute still goes, alone.
        let mut big = CharWindow::new(100, t);
        assert_eq!(big.wait(t, 500), None);
    }
}
