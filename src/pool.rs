//! The workers: `-j` tasks that claim pieces, wait for the rate limits, send, retry, save and
//! join, until nothing is left or the run is told to stop. Rate limits, the 429 pause and the
//! stop signal are shared by every worker.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio_util::sync::CancellationToken;

use crate::audio;
use crate::error::StopReason;
use crate::plan::cost_usd;
use crate::queue::{self, Claim, QueueError, QueueHandle, ReadyItem};
use crate::speech::{SpeechClient, SpeechError, SpeechRequest};
use crate::store::{self, BuildError, TempFile};

/// The longest wait a server's retry hint may impose; a hostile `retry-after: 86400` is cut to
/// this (and the log says so).
pub const MAX_HINT: Duration = Duration::from_secs(300);
/// The first and the largest backoff delay between attempts of one request.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Pacing

/// Paces requests for the whole run: at most `--rpm` requests and `--cpm` characters per minute,
/// spaced evenly, and none during a 429 pause. One check decides both limits at once, so a
/// request leaves the moment it is admitted and the two limits hold at the time of sending.
pub struct Pacer {
    state: Mutex<PacerState>,
}

struct PacerState {
    /// `--rpm` as GCRA with a burst of one: one request per 60/R seconds, never two at once.
    rpm: DefaultDirectRateLimiter,
    clock: DefaultClock,
    /// No request before this: the spacing carried over from an earlier run, or a 429 pause.
    not_before: Instant,
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

const MINUTE: Duration = Duration::from_secs(60);

impl CharWindow {
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
            let mut freed = self.in_window;
            for &(at, n) in &self.sent {
                freed -= n;
                if freed + chars <= self.limit {
                    return Some(
                        (at + MINUTE).saturating_duration_since(now) + Duration::from_millis(1),
                    );
                }
            }
            let oldest = self.sent.back().map_or(now, |&(at, _)| at);
            return Some(
                (oldest + MINUTE).saturating_duration_since(now) + Duration::from_millis(1),
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
                .saturating_mul(chars.min(u32::MAX as u64) as u32);
    }
}

impl Pacer {
    /// A pacer for `rpm` requests and `cpm` characters a minute. `recent` are the requests of
    /// the last minute as (how long ago, characters), oldest first, so that a resumed run keeps
    /// the spacing and the minute's budget of the run before it.
    pub fn new(rpm: u32, cpm: Option<u32>, recent: &[(Duration, u64)]) -> Pacer {
        // One nanosecond more than 60/R: R+1 requests then span more than a minute, so no
        // 60-second window, however placed, holds more than R.
        let period = Duration::from_nanos(60_000_000_000 / u64::from(rpm.max(1)) + 1);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        let now = Instant::now();
        let not_before = recent
            .last()
            .and_then(|&(ago, _)| now.checked_sub(ago))
            .map_or(now, |last| last + period);
        let cpm = cpm.map(|limit| {
            let mut window = CharWindow {
                limit: u64::from(limit),
                per_char: Duration::from_nanos(60_000_000_000 / u64::from(limit.max(1)) + 1),
                next_free: now,
                sent: VecDeque::new(),
                in_window: 0,
            };
            for &(ago, chars) in recent {
                if let Some(at) = now.checked_sub(ago) {
                    window.record(at, chars);
                }
            }
            window
        });
        Pacer {
            state: Mutex::new(PacerState {
                rpm: RateLimiter::direct(quota),
                clock: DefaultClock::default(),
                not_before,
                cpm,
            }),
        }
    }

    /// Waits until a request of `chars` characters may be sent, and counts it as sent.
    pub async fn acquire(&self, chars: usize) {
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

    /// No worker sends before `now + pause` (a 429).
    pub fn pause_for(&self, pause: Duration) {
        if let Ok(mut s) = self.state.lock() {
            s.not_before = s.not_before.max(Instant::now() + pause);
        }
    }
}

impl PacerState {
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
        if let Err(not_until) = self.rpm.check() {
            return Some(not_until.wait_time_from(self.clock.now()));
        }
        if let Some(cpm) = self.cpm.as_mut() {
            cpm.record(now, chars);
        }
        None
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// What workers share.
pub struct Pool {
    pub run: i64,
    pub queue: QueueHandle,
    pub client: SpeechClient,
    pub out: PathBuf,
    pub pieces_dir: PathBuf,
    pub pacer: Pacer,
    pub max_attempts: u32,
    pub max_cost: Option<f64>,
    pub stop: CancellationToken,
    stop_reason: Mutex<Option<StopReason>>,
    spent_usd: Mutex<f64>,
    request_seq: AtomicI64,
    pub stats: Stats,
}

/// Counters of this run, for progress and the report.
#[derive(Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub pieces_done: AtomicU64,
    pub items_done: AtomicU64,
    pub items_failed: AtomicU64,
    pub in_flight: AtomicU64,
}

impl Pool {
    /// A pool for one run.
    #[allow(clippy::too_many_arguments)] // one constructor call, in app.rs; a builder adds nothing
    pub fn new(
        run: i64,
        queue: QueueHandle,
        client: SpeechClient,
        out: PathBuf,
        pieces_dir: PathBuf,
        pacer: Pacer,
        max_attempts: u32,
        max_cost: Option<f64>,
        stop: CancellationToken,
    ) -> Pool {
        Pool {
            run,
            queue,
            client,
            out,
            pieces_dir,
            pacer,
            max_attempts,
            max_cost,
            stop,
            stop_reason: Mutex::new(None),
            spent_usd: Mutex::new(0.0),
            request_seq: AtomicI64::new(0),
            stats: Stats::default(),
        }
    }

    /// Stops the run for `reason` (the first reason given is the one reported).
    pub fn stop_for(&self, reason: StopReason) {
        if let Ok(mut r) = self.stop_reason.lock()
            && r.is_none()
        {
            *r = Some(reason);
        }
        self.stop.cancel();
    }

    /// Why the run stopped, if it did.
    pub fn stop_reason(&self) -> Option<StopReason> {
        self.stop_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Runs the workers until no piece is left or the run stops. Items whose pieces all have
    /// audio already are written first.
    pub async fn run(self: &Arc<Self>, workers: usize) -> Result<(), QueueError> {
        let ready = self.queue.call(|c| queue::ready_items(c, None)).await?;
        for item in ready {
            self.build(item).await?;
            if self.stop.is_cancelled() {
                return Ok(());
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let pool = Arc::clone(self);
            tasks.spawn(async move { pool.work().await });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.stop_for(StopReason::Storage(e.to_string()));
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    self.stop_for(StopReason::Storage(format!("a worker failed: {e}")));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn work(&self) -> Result<(), QueueError> {
        let run = self.run;
        while !self.stop.is_cancelled() {
            let mut claims = self.queue.call(move |c| queue::claim(c, run, 1)).await?;
            let Some(claim) = claims.pop() else {
                return Ok(());
            };
            self.process(claim).await?;
        }
        Ok(())
    }

    /// One piece, from its first attempt to done, failed or released.
    async fn process(&self, claim: Claim) -> Result<(), QueueError> {
        let run = self.run;
        let fp = claim.fingerprint.clone();
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(BACKOFF_MIN)
            .with_max_delay(BACKOFF_MAX)
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .build();
        let request = SpeechRequest {
            model: &claim.model,
            input: &claim.text,
            voice: &claim.voice,
            response_format: claim.format,
            speed: (claim.speed != 1.0).then_some(claim.speed),
            instructions: claim.instructions.as_deref(),
        };
        let final_path = queue::piece_path(&self.pieces_dir, &fp, claim.format);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            tokio::select! {
                _ = self.stop.cancelled() => return self.release(&fp).await,
                _ = self.pacer.acquire(claim.characters) => {}
            }
            if self.stop.is_cancelled() {
                return self.release(&fp).await;
            }
            if !self.charge(&claim) {
                self.stop_for(StopReason::MaxCost);
                return self.release(&fp).await;
            }
            let n = self.request_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let (piece, chars, sent) = (fp.clone(), claim.characters, queue::now_ms());
            self.queue
                .send(move |c| queue::log_request(c, run, n, &piece, sent, chars));
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            if attempt > 1 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(piece = %fp, attempt, chars = claim.characters, "request");

            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let result = self.fetch_piece(&request, &final_path).await;
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);

            let error = match result {
                Ok((bytes, seconds)) => {
                    let piece = fp.clone();
                    self.queue
                        .send(move |c| queue::log_outcome(c, run, n, &piece, Ok(())));
                    let piece = fp.clone();
                    let ready = self
                        .queue
                        .call(move |c| queue::complete_piece(c, run, &piece, bytes, seconds))
                        .await?;
                    self.stats.pieces_done.fetch_add(1, Ordering::Relaxed);
                    for item in ready {
                        self.build(item).await?;
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            let said = error.to_string();
            let piece = fp.clone();
            let logged = said.clone();
            self.queue
                .send(move |c| queue::log_outcome(c, run, n, &piece, Err(&logged)));
            match error {
                SpeechError::Retryable {
                    reason,
                    after,
                    rate_limited,
                } => {
                    let after = after.map(|hint| {
                        if hint > MAX_HINT {
                            tracing::warn!(
                                "the server asked to wait {}s; waiting {}s instead",
                                hint.as_secs(),
                                MAX_HINT.as_secs()
                            );
                        }
                        hint.min(MAX_HINT)
                    });
                    let Some(delay) = backoff.next() else {
                        let msg = format!("{reason} (gave up after {attempt} attempts)");
                        tracing::warn!(piece = %fp, "{msg}");
                        return self.fail(&fp, msg).await;
                    };
                    // Full jitter: anywhere from nothing to the capped exponential delay.
                    let jittered = delay.mul_f64(fastrand::f64());
                    let wait = jittered.max(after.unwrap_or(Duration::ZERO));
                    if rate_limited {
                        self.pacer.pause_for(after.unwrap_or(delay));
                    }
                    tracing::info!(piece = %fp, attempt, "retrying in {:.1}s: {reason}", wait.as_secs_f64());
                    tokio::select! {
                        _ = self.stop.cancelled() => return self.release(&fp).await,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                SpeechError::ItemFailed(msg) => {
                    tracing::warn!(piece = %fp, "{msg}");
                    return self.fail(&fp, msg).await;
                }
                SpeechError::RunStopped(msg) => {
                    tracing::error!("{msg}");
                    self.stop_for(StopReason::Refused(msg));
                    return self.release(&fp).await;
                }
                SpeechError::Local(msg) => {
                    tracing::error!("{msg}");
                    self.stop_for(StopReason::Storage(msg));
                    return self.release(&fp).await;
                }
            }
        }
    }

    /// Sends the request, checks the whole response is audio, and moves it to its final name.
    async fn fetch_piece(
        &self,
        request: &SpeechRequest<'_>,
        final_path: &std::path::Path,
    ) -> Result<(u64, f64), SpeechError> {
        let local =
            |e: std::io::Error| SpeechError::Local(format!("{}: {e}", final_path.display()));
        let temp = TempFile::beside(final_path).map_err(local)?;
        let fetched = self.client.fetch(request, temp.path()).await?;
        store::failpoint("piece-after-temp-write");
        let format = request.response_format;
        let check_path = temp.path().to_path_buf();
        let measured = tokio::task::spawn_blocking(move || audio::validate(format, &check_path))
            .await
            .map_err(|e| SpeechError::Local(format!("checking audio: {e}")))?;
        let seconds = match measured {
            Ok(seconds) => seconds,
            Err(audio::AudioError::Io(e) | audio::AudioError::Read { source: e, .. }) => {
                return Err(local(e));
            }
            Err(e) => {
                return Err(SpeechError::Retryable {
                    reason: format!("response is not whole {format} audio: {e}"),
                    after: None,
                    rate_limited: false,
                });
            }
        };
        let final_path = final_path.to_path_buf();
        tokio::task::spawn_blocking(move || temp.persist(&final_path))
            .await
            .map_err(|e| SpeechError::Local(format!("saving audio: {e}")))?
            .map_err(local)?;
        store::failpoint("piece-after-rename");
        Ok((fetched.bytes, seconds))
    }

    /// Adds a request's estimated cost to this run's spend, unless it would pass `--max-cost`.
    fn charge(&self, claim: &Claim) -> bool {
        let cost = cost_usd(&claim.model, claim.characters);
        let Ok(mut spent) = self.spent_usd.lock() else {
            return false;
        };
        if let Some(max) = self.max_cost
            && *spent + cost > max
        {
            return false;
        }
        *spent += cost;
        true
    }

    /// The estimated spend of this run so far.
    pub fn spent_usd(&self) -> f64 {
        self.spent_usd.lock().map_or(0.0, |s| *s)
    }

    async fn release(&self, fp: &str) -> Result<(), QueueError> {
        let (run, piece) = (self.run, fp.to_string());
        self.queue
            .call(move |c| queue::release_claim(c, run, &piece))
            .await
    }

    async fn fail(&self, fp: &str, msg: String) -> Result<(), QueueError> {
        let (run, piece) = (self.run, fp.to_string());
        let failed = self
            .queue
            .call(move |c| queue::fail_piece(c, run, &piece, &msg))
            .await?;
        self.stats
            .items_failed
            .fetch_add(failed as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Writes an item's file from its pieces and marks it done (or failed, if the pieces cannot
    /// be joined). A disk failure stops the run.
    async fn build(&self, item: ReadyItem) -> Result<(), QueueError> {
        let (out, pieces_dir) = (self.out.clone(), self.pieces_dir.clone());
        let job = item.clone();
        let built = tokio::task::spawn_blocking(move || store::build_item(&out, &pieces_dir, &job))
            .await
            .unwrap_or_else(|e| Err(BuildError::Io(format!("writing {}: {e}", item.output))));
        match built {
            Ok((bytes, seconds)) => {
                let (key, fp) = (item.key.clone(), item.fingerprint.clone());
                if self
                    .queue
                    .call(move |c| queue::complete_item(c, &key, &fp, bytes, seconds))
                    .await?
                {
                    self.stats.items_done.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(item = %item.key, "wrote {} ({:.1}s of audio)", item.output, seconds);
                }
            }
            Err(BuildError::Audio(msg)) => {
                tracing::warn!(item = %item.key, "{msg}");
                let key = item.key.clone();
                self.queue
                    .call(move |c| queue::fail_item(c, &key, &msg))
                    .await?;
                self.stats.items_failed.fetch_add(1, Ordering::Relaxed);
            }
            Err(BuildError::Io(msg)) => {
                tracing::error!("{msg}");
                self.stop_for(StopReason::Storage(msg));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_spaced_by_the_rpm_period() {
        let pacer = Pacer::new(60, None, &[]);
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
        let pacer = Pacer::new(6, None, &[(Duration::from_secs(2), 10)]);
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
    fn characters_never_pass_the_minute_cap() {
        let mut w = CharWindow {
            limit: 1000,
            per_char: Duration::from_millis(60),
            next_free: Instant::now(),
            sent: VecDeque::new(),
            in_window: 0,
        };
        let start = Instant::now();
        let mut t = start;
        let mut sent = Vec::new();
        // Simulate a minute and a half of 300-character pieces sent as soon as allowed.
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
            assert!(
                in_minute * 300 <= 1000 + 300,
                "window at {i}: {in_minute} pieces"
            );
            assert!(in_minute * 300 <= 1000, "window at {i}: {in_minute} pieces");
        }
        // A piece larger than the whole minute still goes, alone.
        let mut w2 = CharWindow { limit: 100, ..w };
        w2.sent.clear();
        w2.in_window = 0;
        w2.next_free = t;
        assert_eq!(w2.wait(t, 500), None);
    }
}
