//! The workers: `-j` tasks that claim pieces, wait for the pacer, send, retry, save and join,
//! until nothing is left or the run is told to stop. The pacer (`pacer.rs`), the claims and the
//! stop signal are shared by every worker.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::audio;
use crate::book::tags::RunTags;
use crate::domain::{AudioFormat, LocalError};
use crate::error::{StopReason, StorageError};
use crate::plan::{cost_usd, prices};
use crate::provider::hints::MAX_HINT;
use crate::provider::{Fetched, Provider, SpeechError, SpeechRequest};
use crate::queue::{self, Claim, QueueError, QueueHandle, ReadyItem};
use crate::run::checks::{self, Calibration, Decision, TextShape};
use crate::run::hear::{self, Hearing, Unheard};
use crate::run::pacer::Pacer;
use crate::run::streak::{self, ErrorStreak};
use crate::store::{self, BuildError, GroupSync, TempFile};
use crate::verify;

/// The outage rule: the run stops (exit 3, resumable) once the API has given no answer at all
/// (connection refused or reset, DNS failure) for this long, and at least [`OUTAGE_ATTEMPTS`]
/// attempts in a row, across all workers, got none. Such attempts spend no piece's attempts,
/// so an outage never fails the book. Any HTTP answer, even a 500, ends the spell.
pub const OUTAGE_SPELL: Duration = Duration::from_secs(30);
/// See [`OUTAGE_SPELL`].
pub const OUTAGE_ATTEMPTS: u32 = 3;

/// The outage spell in force: [`OUTAGE_SPELL`], or in debug builds (the tests) the seconds in
/// `TTS_BATCH_OUTAGE_SECS`.
fn outage_spell() -> Duration {
    #[cfg(debug_assertions)]
    if let Some(secs) = std::env::var("TTS_BATCH_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_secs(secs);
    }
    OUTAGE_SPELL
}

/// Since when the API has not answered, and how many attempts in a row got no answer.
struct Silence {
    last_answer: Instant,
    unanswered: u32,
}

/// What `--max-cost` counts a model with no known price at, per million characters: `tts-1`'s
/// price, the cheapest speech endpoint's.
pub const UNPRICED_PER_MILLION_CHARS: f64 = 15.0;

/// The first and the largest backoff delay between attempts of one request.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What workers share.
pub struct Pool {
    pub run: i64,
    pub queue: QueueHandle,
    /// The voice: the API client or espeak-ng.
    pub provider: Arc<dyn Provider>,
    pub out: PathBuf,
    pub pieces_dir: PathBuf,
    /// Makes pieces and item files durable a batch at a time, before the queue records them.
    pub durable: GroupSync,
    pub pacer: Pacer,
    pub max_attempts: u32,
    pub max_cost: Option<f64>,
    /// The verbatim check's threshold (`--max-wer`).
    max_wer: f64,
    /// Silence between the pieces of an item.
    pub pause: Duration,
    /// The tags every item file gets.
    pub tags: Arc<RunTags>,
    pub stop: CancellationToken,
    /// With `--verify`: how pieces are heard back (SPEC §11).
    pub hearing: Option<Arc<Hearing>>,
    /// The speaking rates of this run's answers, for the audio checks.
    calibration: Mutex<Calibration>,
    stop_reason: Mutex<Option<StopReason>>,
    silence: Mutex<Silence>,
    /// The same server error, attempt after attempt (`streak.rs`).
    streak: ErrorStreak,
    outage_spell: Duration,
    spent_usd: Mutex<f64>,
    /// The base URL prices are read for ([`Pool::priced_at`]).
    base_url: String,
    request_seq: AtomicI64,
    /// Claimed pieces not yet taken by a worker (claimed a batch at a time).
    claimed: tokio::sync::Mutex<VecDeque<Claim>>,
    /// Completions, item builds and transcriptions, which run beside the speech requests.
    finishing: TaskTracker,
    /// Transcriptions in flight at once: `-j`, apart from the workers' speech requests, so a
    /// slow transcription server never holds up a worker's next speech request.
    hearing_slots: tokio::sync::Semaphore,
    /// Speech requests in flight at once: `-j`. Each worker holds one while it works a piece;
    /// a piece requested again because its transcript did not match takes one too, so speech
    /// never goes past `-j`, whoever sends it.
    speaking_slots: tokio::sync::Semaphore,
    /// Fired with `stop` for every reason but `--max-cost`: transcriptions already counted
    /// under the limit are still sent after a cost stop, and end at any other.
    halt: CancellationToken,
    /// Set when the manifest is wholly in the queue (or its sync stopped): until then a worker
    /// that finds nothing to claim waits for the next chunk instead of leaving.
    sync_done: std::sync::atomic::AtomicBool,
    synced: tokio::sync::Notify,
    pub stats: Stats,
}

/// A piece whose audio passed its checks, on its way to be heard back.
struct Spoken {
    claim: Claim,
    path: PathBuf,
    bytes: u64,
    seconds: f64,
    /// The audio checks' doubt that stayed, if any.
    warning: Option<String>,
    /// What its transcription is counted at.
    cost: f64,
    /// Attempts of its speech so far.
    attempt: u32,
    /// Whether its audio was already requested again for a transcript that did not match.
    misheard: bool,
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
    /// Items to write in this run, as far as the sync has got.
    pub to_write: AtomicU64,
}

impl Pool {
    /// A pool for one run.
    #[allow(clippy::too_many_arguments)] // one constructor call, in app.rs; a builder adds nothing
    pub fn new(
        run: i64,
        queue: QueueHandle,
        provider: Arc<dyn Provider>,
        out: PathBuf,
        pieces_dir: PathBuf,
        durable: GroupSync,
        pacer: Pacer,
        max_attempts: u32,
        max_cost: Option<f64>,
        pause: Duration,
        stop: CancellationToken,
        tags: Arc<RunTags>,
    ) -> Pool {
        Pool {
            tags,
            run,
            queue,
            provider,
            out,
            pieces_dir,
            durable,
            pacer,
            max_attempts,
            max_cost,
            pause,
            stop,
            hearing: None,
            calibration: Mutex::new(Calibration::default()),
            stop_reason: Mutex::new(None),
            silence: Mutex::new(Silence {
                last_answer: Instant::now(),
                unanswered: 0,
            }),
            outage_spell: outage_spell(),
            streak: ErrorStreak::default(),
            spent_usd: Mutex::new(0.0),
            base_url: String::new(),
            max_wer: crate::settings::DEFAULT_MAX_WER,
            request_seq: AtomicI64::new(0),
            claimed: tokio::sync::Mutex::new(VecDeque::new()),
            finishing: TaskTracker::new(),
            hearing_slots: tokio::sync::Semaphore::new(0),
            speaking_slots: tokio::sync::Semaphore::new(0),
            halt: CancellationToken::new(),
            sync_done: std::sync::atomic::AtomicBool::new(false),
            synced: tokio::sync::Notify::new(),
            stats: Stats::default(),
        }
    }

    /// Hears every piece back with `hearing` (`--verify`).
    pub fn with_hearing(mut self, hearing: Option<Arc<Hearing>>) -> Pool {
        self.hearing = hearing;
        self
    }

    /// The verbatim check's and verification's threshold (`--max-wer`).
    pub fn with_max_wer(mut self, max_wer: f64) -> Pool {
        self.max_wer = max_wer;
        self
    }

    /// Stops the run for `reason` (the first reason given is the one reported).
    pub fn stop_for(&self, reason: StopReason) {
        if !matches!(reason, StopReason::MaxCost) {
            self.halt.cancel();
        }
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

    /// Runs the workers until no piece is left (and the sync is over) or the run stops.
    pub async fn run(self: &Arc<Self>, workers: usize) -> Result<(), StorageError> {
        self.hearing_slots.add_permits(workers);
        self.speaking_slots.add_permits(workers);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let pool = Arc::clone(self);
            tasks.spawn(async move { pool.work(workers).await });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let e = StorageError::from(e);
                    self.stop_for(StopReason::Storage(e.clone()));
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    self.stop_for(StopReason::Storage(StorageError::Task {
                        what: "a worker",
                        source: Arc::new(e),
                    }));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Waits for completions still being recorded and items still being written.
    pub async fn finish(&self) {
        self.finishing.close();
        self.finishing.wait().await;
        self.provider.finish().await;
    }

    /// A chunk of the manifest is in the queue, with `pending` items to write.
    pub fn synced_more(&self, pending: u64) {
        self.stats.to_write.fetch_add(pending, Ordering::Relaxed);
        self.synced.notify_waiters();
    }

    /// The sync is over: workers that find nothing to claim may leave.
    pub fn sync_finished(&self) {
        self.sync_done.store(true, Ordering::SeqCst);
        self.synced.notify_waiters();
    }

    /// Writes an item whose pieces all have audio, beside the requests.
    pub fn spawn_build(self: &Arc<Self>, item: ReadyItem) {
        let pool = Arc::clone(self);
        self.finishing.spawn(async move {
            if let Err(e) = pool.build(item).await {
                pool.stop_for(StopReason::Storage(e.into()));
            }
        });
    }

    async fn work(self: &Arc<Self>, batch: usize) -> Result<(), QueueError> {
        while !self.stop.is_cancelled() {
            let Some(claim) = self.next_claim(batch).await? else {
                return Ok(());
            };
            // Never closed, so always given; a re-request of a misheard piece may hold it.
            let Ok(_slot) = self.speaking_slots.acquire().await else {
                return Ok(());
            };
            self.process(claim).await?;
        }
        Ok(())
    }

    /// The next claimed piece. Claims are taken a batch at a time (one transaction for `batch`
    /// pieces), so a worker rarely waits for the queue between two requests. Claims left in
    /// the batch when the run stops are released with the rest at its end. While the manifest
    /// is still being synced, finding nothing means waiting for the next chunk.
    async fn next_claim(&self, batch: usize) -> Result<Option<Claim>, QueueError> {
        let mut claimed = self.claimed.lock().await;
        loop {
            if let Some(claim) = claimed.pop_front() {
                return Ok(Some(claim));
            }
            let synced = self.synced.notified();
            tokio::pin!(synced);
            synced.as_mut().enable();
            // Read before claiming: a chunk synced after this read still wakes `synced`.
            let sync_done = self.sync_done.load(Ordering::SeqCst);
            let run = self.run;
            claimed.extend(
                self.queue
                    .call(move |c| queue::claim(c, run, batch))
                    .await?,
            );
            if !claimed.is_empty() {
                continue;
            }
            if sync_done || self.stop.is_cancelled() {
                return Ok(None);
            }
            tokio::select! {
                _ = synced => {}
                _ = self.stop.cancelled() => return Ok(None),
            }
        }
    }

    /// One piece, from its first attempt to done, failed or released.
    async fn process(self: &Arc<Self>, claim: Claim) -> Result<(), QueueError> {
        self.process_from(claim, 0, false).await
    }

    /// [`Pool::process`] after `attempt` attempts; `misheard`: its audio was already requested
    /// again because its transcript did not match.
    async fn process_from(
        self: &Arc<Self>,
        claim: Claim,
        attempt: u32,
        misheard: bool,
    ) -> Result<(), QueueError> {
        let run = self.run;
        let fp = claim.fingerprint.clone();
        let mut request = SpeechRequest {
            model: &claim.model,
            input: &claim.text,
            voice: &claim.voice,
            response_format: claim.format,
            speed: (claim.speed != 1.0).then_some(claim.speed),
            instructions: claim.instructions.as_deref(),
            firmer: false,
        };
        let final_path = store::piece_path(&self.pieces_dir, &fp, claim.format);
        let mut attempt = attempt;
        // The length of an answer the audio check doubted, once it has asked again.
        let mut doubted: Option<f64> = None;
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

            if !matches!(
                result,
                Err(SpeechError::Unreachable(_) | SpeechError::Certificate(_))
            ) {
                self.answered();
            }
            let error = match result {
                Ok((fetched, seconds)) => {
                    self.streak.succeeded();
                    self.pacer.observe(&fetched.hints);
                    let bytes = fetched.bytes;
                    let billed = self.settle(&claim, fetched.usage.as_ref());
                    if let Some((usd, usage)) = billed {
                        let piece = fp.clone();
                        self.queue
                            .send(move |c| queue::log_billed(c, run, n, &piece, usd, &usage));
                    }
                    let piece = fp.clone();
                    self.queue
                        .send(move |c| queue::log_outcome(c, run, n, &piece, Ok(())));
                    let warning = match self.check_audio(&claim, seconds, doubted) {
                        Decision::Keep => None,
                        Decision::AskAgain(why) if attempt < self.max_attempts => {
                            tracing::info!(piece = %fp, attempt, "asking again: {why}");
                            doubted = Some(seconds);
                            discard(&final_path).await;
                            continue;
                        }
                        Decision::AskAgain(why) | Decision::KeepWithWarning(why) => {
                            tracing::warn!(piece = %fp, "{why}; kept");
                            Some(why)
                        }
                    };
                    // The verbatim check: a voice model's own transcript against the text.
                    let own = fetched
                        .transcript
                        .as_deref()
                        .map(|t| (verify::score(&claim.text, t), t.to_string()));
                    let warning = match &own {
                        Some((score, transcript)) if !score.passes(self.max_wer) => {
                            if !request.firmer && attempt < self.max_attempts {
                                tracing::info!(piece = %fp, attempt, wer = score.wer, "asking again: the transcript does not match the text");
                                request.firmer = true;
                                discard(&final_path).await;
                                continue;
                            }
                            let why = verbatim_warning(score.wer, transcript);
                            tracing::warn!(piece = %fp, "{why}; kept");
                            Some(match warning {
                                Some(first) => format!("{first}; {why}"),
                                None => why,
                            })
                        }
                        _ => warning,
                    };
                    if own.is_none()
                        && let Some(hearing) = self.hearing.as_ref().filter(|h| h.samples(&fp))
                    {
                        let cost = hearing.cost_usd(seconds);
                        if !self.charge_usd(cost) {
                            // The audio is saved: the next run adopts it and hears it.
                            self.stop_for(StopReason::MaxCost);
                            return self.release(&fp).await;
                        }
                        // Heard beside the requests: the worker goes on to its next piece at
                        // once, and the transcription records the piece (or asks again).
                        let spoken = Spoken {
                            claim,
                            path: final_path,
                            bytes,
                            seconds,
                            warning,
                            cost,
                            attempt,
                            misheard,
                        };
                        let (pool, hearing) = (Arc::clone(self), Arc::clone(hearing));
                        self.finishing.spawn(async move {
                            let fp = spoken.claim.fingerprint.clone();
                            if let Err(e) = pool.hear_piece(&hearing, spoken).await {
                                tracing::warn!(piece = %fp, "{e}");
                                pool.stop_for(StopReason::Storage(e.into()));
                            }
                        });
                        return Ok(());
                    }
                    let heard =
                        own.map(|(score, transcript)| hear::score_stored(&score, transcript));
                    store::failpoint("piece-after-hearing");
                    // Recording and joining run beside the requests: the worker goes on to its
                    // next piece at once.
                    let pool = Arc::clone(self);
                    self.finishing.spawn(async move {
                        if let Err(e) = pool
                            .record_piece(fp, final_path, bytes, seconds, warning, heard)
                            .await
                        {
                            pool.stop_for(StopReason::Storage(e.into()));
                        }
                    });
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
                    if !rate_limited
                        && streak::is_server_error(&reason)
                        && self.streak.failed(&reason)
                    {
                        tracing::error!("{reason}");
                        self.stop_for(StopReason::ServerFailing(reason));
                        return self.release(&fp).await;
                    }
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
                    let Some(delay) = backoff(attempt, self.max_attempts) else {
                        let msg = format!("{reason} (gave up after {attempt} attempts)");
                        tracing::warn!(piece = %fp, "{msg}");
                        return self.fail(&fp, msg).await;
                    };
                    // Full jitter: anywhere from nothing to the capped exponential delay.
                    let jittered = delay.mul_f64(fastrand::f64());
                    let wait = jittered.max(after.unwrap_or(Duration::ZERO));
                    if rate_limited {
                        self.pacer.rate_limited();
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
                SpeechError::Local(e) => {
                    tracing::error!("{e}");
                    self.stop_for(StopReason::Storage(StorageError::Disk(e)));
                    return self.release(&fp).await;
                }
                SpeechError::Certificate(msg) => {
                    tracing::error!("{msg}");
                    self.stop_for(StopReason::Certificate(msg));
                    return self.release(&fp).await;
                }
                SpeechError::Unreachable(msg) => {
                    // No answer is no attempt: neither the piece's attempts nor the spend.
                    attempt = attempt.saturating_sub(1);
                    self.refund(&claim);
                    if let Some(silent) = self.unanswered() {
                        let reason = format!("no answer for {}s: {msg}", silent.as_secs());
                        tracing::error!("{reason}");
                        self.stop_for(StopReason::Unreachable(reason));
                        return self.release(&fp).await;
                    }
                    let every = (self.outage_spell / 10)
                        .clamp(Duration::from_millis(100), Duration::from_secs(3));
                    let wait = every.mul_f64(0.5 + fastrand::f64());
                    tracing::info!(piece = %fp, "no answer; trying again in {:.1}s: {msg}", wait.as_secs_f64());
                    tokio::select! {
                        _ = self.stop.cancelled() => return self.release(&fp).await,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The API answered (anything, even an error): an outage spell, if any, is over.
    fn answered(&self) {
        if let Ok(mut s) = self.silence.lock() {
            s.last_answer = Instant::now();
            s.unanswered = 0;
        }
    }

    /// Counts an attempt that got no answer; `Some(how long the API has been silent)` when
    /// the outage rule says the run must stop.
    fn unanswered(&self) -> Option<Duration> {
        let Ok(mut s) = self.silence.lock() else {
            return None;
        };
        s.unanswered = s.unanswered.saturating_add(1);
        let silent = s.last_answer.elapsed();
        (s.unanswered >= OUTAGE_ATTEMPTS && silent >= self.outage_spell).then_some(silent)
    }

    /// Sends the request, checks the whole response is audio, and moves it to its final name
    /// (not yet synced: [`Pool::record_piece`] waits for the group sync before recording it).
    async fn fetch_piece(
        &self,
        request: &SpeechRequest<'_>,
        final_path: &std::path::Path,
    ) -> Result<(Fetched, f64), SpeechError> {
        let local = |e| SpeechError::Local(LocalError::at(final_path)(e));
        // The piece store was made at the start of the run: no folder to create here.
        let temp = TempFile::in_existing_folder(final_path);
        let fetched = match self.provider.fetch(request, temp.path()).await {
            Ok(fetched) => fetched,
            Err(e) => {
                // Removing what a failed answer left is a file call: off the async workers.
                let _ = tokio::task::spawn_blocking(move || drop(temp)).await;
                return Err(e);
            }
        };
        store::failpoint("piece-after-temp-write");
        let format = request.response_format;
        let dest = final_path.to_path_buf();
        // One trip to the blocking pool: the audio checked and measured in one pass, then
        // renamed into the store (or, not whole, removed there).
        let saved = tokio::task::spawn_blocking(move || {
            let measured = audio::validate(format, temp.path());
            if measured.is_ok() {
                temp.rename_to(&dest).map_err(audio::AudioError::Io)?;
            }
            measured
        })
        .await
        .map_err(|e| SpeechError::Local(LocalError::new("checking audio", e)))?;
        let seconds = match saved {
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
        store::failpoint("piece-after-rename");
        Ok((fetched, seconds))
    }

    /// The audio check of an answer of `seconds` to `claim` (section 9 of the contract): keep
    /// it, ask again, or keep it with a warning. What is kept teaches the run its speaking rate.
    fn check_audio(&self, claim: &Claim, seconds: f64, doubted: Option<f64>) -> Decision {
        let shape = TextShape::of(&claim.text);
        let Ok(mut calibration) = self.calibration.lock() else {
            return Decision::Keep;
        };
        let verdict = calibration.judge(shape, claim.speed, seconds);
        let decision = checks::decide(&verdict, seconds, claim.characters as u64, doubted);
        if checks::teaches(&decision, seconds, doubted) {
            calibration.observe(shape, claim.speed, seconds);
        }
        decision
    }

    /// Records a piece done (fenced by the claim), with the audio check's warning if its audio
    /// was kept in doubt and its transcript's score when it was heard back, and writes the
    /// items it completes.
    /// The piece requested again because its transcript did not match (a boxed future: the
    /// request hears its answer again, so the two futures hold each other).
    fn ask_again(
        self: Arc<Self>,
        claim: Claim,
        attempt: u32,
    ) -> futures_util::future::BoxFuture<'static, Result<(), QueueError>> {
        Box::pin(async move {
            // A speech request like any other: within `-j`, after a worker's slot frees.
            let Ok(_slot) = self.speaking_slots.acquire().await else {
                return Ok(());
            };
            self.process_from(claim, attempt, true).await
        })
    }

    /// Hears a spoken piece back (at most `-j` at a time, beside the speech requests), then
    /// records it with its score; over `--max-wer`, its audio is requested again once, then
    /// kept with a warning (or the item fails with `--verify-strict`).
    async fn hear_piece(self: &Arc<Self>, hearing: &Hearing, s: Spoken) -> Result<(), QueueError> {
        let fp = s.claim.fingerprint.clone();
        let _slot = tokio::select! {
            _ = self.halt.cancelled() => None,
            slot = self.hearing_slots.acquire() => slot.ok(),
        };
        let heard_now = if self.halt.is_cancelled() {
            Err(Unheard::Skip("the run is stopping".into()))
        } else {
            hearing
                .hear(
                    &s.path,
                    s.claim.format,
                    &s.claim.text,
                    &s.claim.voice,
                    &self.halt,
                )
                .await
        };
        if heard_now.is_ok() {
            // Answered, so paid for: the report's spend counts it.
            let (piece, seconds, cost) = (fp.clone(), s.seconds, s.cost);
            self.queue
                .send(move |c| queue::record_transcription(c, &piece, seconds, cost));
        } else {
            // Not sent, or no useful answer: nothing to pay.
            self.refund_usd(s.cost);
        }
        let heard = match heard_now {
            Ok(heard) if heard.score.passes(hearing.max_wer) => Some(heard),
            Ok(heard) => {
                let why = hear::mismatch(&heard.score, hearing.max_wer);
                if !s.misheard && s.attempt < self.max_attempts && !self.stop.is_cancelled() {
                    tracing::info!(piece = %fp, attempt = s.attempt, "asking again: {why}");
                    let _ = std::fs::remove_file(&s.path);
                    drop(_slot);
                    return Arc::clone(self).ask_again(s.claim, s.attempt).await;
                }
                if hearing.strict {
                    tracing::warn!(piece = %fp, "{why}");
                    return self.fail(&fp, format!("{why}, after asking twice")).await;
                }
                tracing::warn!(piece = %fp, "{why}; kept");
                let mut heard = heard;
                heard.stored.warning = Some(why);
                Some(heard)
            }
            Err(Unheard::Stop(msg)) => {
                tracing::error!("{msg}");
                self.stop_for(StopReason::Refused(msg));
                return self.release(&fp).await;
            }
            Err(Unheard::Skip(msg)) => {
                // Kept unheard: `tts-batch verify` (or the end of a later run) hears it.
                tracing::warn!(piece = %fp, "not heard back: {msg}");
                None
            }
        };
        drop(_slot);
        store::failpoint("piece-after-hearing");
        self.record_piece(
            fp,
            s.path,
            s.bytes,
            s.seconds,
            s.warning,
            heard.map(|h| h.stored),
        )
        .await
    }

    async fn record_piece(
        &self,
        fp: String,
        path: PathBuf,
        bytes: u64,
        seconds: f64,
        warning: Option<String>,
        heard: Option<queue::HeardPiece>,
    ) -> Result<(), QueueError> {
        let run = self.run;
        // The piece is on disk before the queue calls it stored; the sync is shared with
        // every piece renamed meanwhile.
        if let Err(e) = self.durable.sync(&path).await {
            self.stop_for(StopReason::Storage(StorageError::Disk(LocalError::at(
                &path,
            )(e))));
            return Ok(());
        }
        let ready = self
            .queue
            .call(move |c| {
                let ready = queue::complete_piece(c, run, &fp, bytes, seconds, warning.as_deref())?;
                // In the same transaction: a piece is never done with its score lost.
                if let Some(heard) = &heard {
                    queue::record_heard(c, &fp, heard)?;
                }
                Ok(ready)
            })
            .await?;
        self.stats.pieces_done.fetch_add(1, Ordering::Relaxed);
        for item in ready {
            self.build(item).await?;
        }
        Ok(())
    }

    /// The base URL the run's prices are read for (a local server's own models are free).
    pub fn priced_at(mut self, base_url: &str) -> Pool {
        self.base_url = base_url.to_string();
        self
    }

    /// A request's estimated cost. A model with no known price counts at
    /// [`UNPRICED_PER_MILLION_CHARS`] (the run says so when it starts with `--max-cost`).
    fn estimate(&self, claim: &Claim) -> f64 {
        cost_usd(&claim.model, &self.base_url, claim.characters)
            .unwrap_or(claim.characters as f64 * UNPRICED_PER_MILLION_CHARS / 1_000_000.0)
    }

    /// Adds a request's estimated cost to this run's spend, unless it would pass `--max-cost`:
    /// the spend so far plus what is in flight.
    fn charge(&self, claim: &Claim) -> bool {
        self.charge_usd(self.estimate(claim))
    }

    /// What this run has spent so far (speech and transcription, estimates and billed).
    pub fn spent_usd(&self) -> f64 {
        self.spent_usd.lock().map_or(0.0, |s| *s)
    }

    /// Adds `cost` (speech or transcription) to this run's spend, unless it would pass
    /// `--max-cost`.
    fn charge_usd(&self, cost: f64) -> bool {
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

    /// Puts what the server billed for a request in place of its estimate in this run's spend:
    /// the billed dollars and usage, for the queue, where the server said what it used and the
    /// model's price is per token.
    fn settle(&self, claim: &Claim, usage: Option<&prices::Usage>) -> Option<(f64, prices::Usage)> {
        let usage = *usage?;
        let billed = match prices::price(&claim.model, &self.base_url)? {
            prices::Price::PerMillionTokens(t) => t.cost(&usage),
            prices::Price::Free => 0.0,
            _ => return None,
        };
        let estimate = self.estimate(claim);
        if let Ok(mut spent) = self.spent_usd.lock() {
            *spent = (*spent - estimate + billed).max(0.0);
        }
        Some((billed, usage))
    }

    /// Takes back the estimated cost of a request that got no answer (nothing was paid).
    fn refund(&self, claim: &Claim) {
        self.refund_usd(self.estimate(claim));
    }

    /// Takes back `cost` from this run's spend (a transcription that got no answer to pay).
    fn refund_usd(&self, cost: f64) {
        if let Ok(mut spent) = self.spent_usd.lock() {
            *spent = (*spent - cost).max(0.0);
        }
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
        let pause = self.pause;
        let tags = Arc::clone(&self.tags);
        let durable = self.durable.clone();
        let built = tokio::task::spawn_blocking(move || {
            let title = crate::book::tags::item_title(job.title.as_deref(), &job.key).to_owned();
            let tag = |path: &std::path::Path| {
                tags.write(job.format, path, &title, job.seq)
                    .map_err(Into::into)
            };
            // Raw PCM has nowhere to hold a tag: its file stays a link to its one piece.
            let tagger: Option<store::Tagger<'_>> =
                (job.format != AudioFormat::Pcm).then_some(&tag);
            store::build_item(&out, &pieces_dir, &job, pause, tagger, &durable)
        })
        .await
        .unwrap_or_else(|e| {
            Err(BuildError::Io(LocalError::new(
                format_args!("writing {}", item.output),
                e,
            )))
        });
        match built {
            Ok((bytes, seconds)) => {
                let (key, fp) = (item.key.clone(), item.fingerprint.clone());
                // What the file's tags are made of, so a later run retags it when they change.
                let tags =
                    (item.format != AudioFormat::Pcm).then(|| self.tags.fingerprint(item.format));
                if self
                    .queue
                    .call(move |c| {
                        let done = queue::complete_item(c, &key, &fp, bytes, seconds)?;
                        if let (true, Some(tags)) = (done, tags) {
                            queue::set_item_tags(c, &key, &tags, None)?;
                        }
                        Ok(done)
                    })
                    .await?
                {
                    self.stats.items_done.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(item = %item.key, "wrote {} ({:.1}s of audio)", item.output, seconds);
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
            Err(BuildError::Io(e)) => {
                tracing::error!("{e}");
                self.stop_for(StopReason::Storage(StorageError::Disk(e)));
            }
        }
        Ok(())
    }
}

/// The warning of a piece kept although its transcript does not match its text.
fn verbatim_warning(wer: f64, transcript: &str) -> String {
    let mut heard: String = transcript.chars().take(80).collect();
    if transcript.chars().count() > 80 {
        heard.push('…');
    }
    format!(
        "the transcript does not match the text (word error rate {wer:.2}) after asking twice: heard \"{heard}\""
    )
}

/// Removes a stored answer that is asked for again: not kept, so a stop before the next answer
/// asks again next run rather than adopting doubted audio. The file call runs on the blocking
/// pool, never on the async workers.
async fn discard(path: &std::path::Path) {
    let path = path.to_path_buf();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
}

/// The capped exponential delay after failed attempt `attempt` (from 1): `BACKOFF_MIN`, doubled
/// per attempt, at most `BACKOFF_MAX`; None once `max_attempts` are spent. The caller adds full
/// jitter and the server's hint.
fn backoff(attempt: u32, max_attempts: u32) -> Option<Duration> {
    (attempt < max_attempts).then(|| {
        let doublings = attempt.saturating_sub(1).min(16);
        BACKOFF_MIN.saturating_mul(1 << doublings).min(BACKOFF_MAX)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_stops_after_the_last_attempt() {
        let delays: Vec<_> = (1..=9).map_while(|a| backoff(a, 9)).collect();
        let secs: Vec<u64> = delays.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(1, 1), None);
    }
}
