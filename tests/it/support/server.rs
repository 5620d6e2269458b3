//! A fake OpenAI text-to-speech API (`POST /v1/audio/speech`) for the integration tests.
//!
//! The HTTP/1.1 server is written by hand over a `TcpListener` rather than with a framework,
//! so that the faults real relays produce (connection resets, truncated bodies, HTML pages in
//! a 200, requests that never get an answer) can be put on the wire byte for byte.
//!
//! It runs on its own thread with its own two-worker tokio runtime, so both sync and async
//! tests can use it, and dropping the [`FakeApi`] handle stops it and joins that thread.
//!
//! A request goes through these steps; the first that answers wins:
//! 1. routing (anything but `POST /v1/audio/speech` is a 404; `POST /v1/audio/transcriptions`
//!    hears audio this server served, see `hearing.rs`),
//! 2. the `Authorization: Bearer` key (401),
//! 3. body validation (400: bad JSON, missing `input`/`model`/`voice`, over 4096 chars, ...),
//! 4. the fault rules, in the order they were added,
//! 5. the rate limiter, if one is configured (429): only requests that reach it count in its
//!    window and get the `x-ratelimit-*` headers,
//! 6. success: audio from [`super::synth::audio`] lasting `chars(input) × ms_per_char`.
//!
//! Every request that was read in full is recorded (see [`Recorded`]), faults and hangs too.

// Shared test support: every test binary (and the benchmark example that `#[path]`-includes
// this file) uses a different subset of it, so unused items are expected, not dead code.
#![allow(dead_code)]

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::hearing::{self, Hearing};
use super::synth;

/// The API key the server accepts unless [`FakeApiBuilder::key`] says otherwise.
pub const DEFAULT_KEY: &str = "sk-test-0123456789abcdef";
/// The speech route.
pub const SPEECH_PATH: &str = "/v1/audio/speech";
/// The transcription route (see `hearing.rs`).
pub const TRANSCRIPTION_PATH: &str = "/v1/audio/transcriptions";
/// The longest `input` the real API accepts, in characters.
pub const MAX_INPUT_CHARS: usize = 4096;
/// The most input tokens `gpt-4o-mini-tts` accepts in one request.
pub const MINI_TTS_MAX_TOKENS: usize = 2000;
/// The formats the real API accepts in `response_format`.
pub const FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

/// Shortest audio served, so that even a one-character input yields at least one frame
/// (an mp3 frame is 26 ms, aac 23 ms, opus 20 ms).
const MIN_AUDIO_MS: u64 = 50;
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;
const RATE_WINDOW: Duration = Duration::from_secs(60);

const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n\
    <body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n\
    </body>\r\n</html>\r\n";
const GATEWAY_PAGE_HTML: &str = "<!DOCTYPE html>\n<html><head><title>Network login</title>\
    </head><body><h1>Please sign in to continue</h1>\
    <p>This network requires authentication.</p></body></html>\n";

/// A misbehaviour the server can be told to show instead of answering normally.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Fault {
    /// 500 with an OpenAI error JSON of type `server_error`.
    Status500,
    /// 502 with nginx's HTML page (`text/html`), as a proxy in front of the API sends it.
    BadGateway,
    /// 503 with an error JSON and a `retry-after` header.
    Unavailable { retry_after_secs: u64 },
    /// Read the request, then close the socket with a TCP RST and no response.
    Reset,
    /// 200 whose `content-length` is the full audio but only half the bytes are sent.
    ShortBody,
    /// 200 with `content-type: application/json` and an OpenAI error JSON, as some relays do.
    JsonErrorIn200,
    /// 200 with `content-length: 0` and the audio content type.
    EmptyBody,
    /// 200 with a `text/html` gateway (captive portal) page.
    HtmlIn200,
    /// 200 with the requested format's content type but audio of another format.
    WrongFormat,
    /// 200 with whole, valid audio of a third of the length the text takes: a voice cut off
    /// that no format check can tell.
    ShortAudio,
    /// Read the request and never answer, until the client hangs up or the server stops.
    Hang,
    /// 429 `rate_limit_exceeded` with `retry-after-ms`.
    RateLimitMs { ms: u64 },
    /// 429 `rate_limit_exceeded` with `retry-after` (seconds).
    RateLimitSecs { secs: u64 },
    /// 429 `rate_limit_exceeded` whose only hint is "Please try again in {secs}s." in the message.
    RateLimitMessage { secs: u64 },
    /// 429 with code `slow_down` and no retry hint.
    SlowDown,
    /// 429 `insufficient_quota`: retrying cannot help.
    InsufficientQuota,
    /// Any status with an OpenAI error JSON carrying `message`.
    Status { code: u16, message: String },
    /// 429 `rate_limit_exceeded` whose only hint is the header `name: value`, sent verbatim
    /// (hostile or broken hints: `1e20`, `-5`, `NaN`, garbage).
    RateLimitHeader { name: &'static str, value: String },
    /// `status` with a `text/html` body, as a proxy or gateway sends it.
    Html { status: u16, html: String },
}

/// One request as the server saw it and what it decided to answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recorded {
    /// 0-based position among all requests the server has read (never reused).
    pub index: usize,
    /// Milliseconds since the server started, when the request was read in full.
    pub at_ms: u64,
    /// The request target, e.g. `/v1/audio/speech`.
    pub path: String,
    /// The raw `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body (`Null` if it was not JSON).
    pub body: Value,
    /// The body's `input` (`""` if absent, as for `model` and `voice`).
    pub input: String,
    /// The body's `model`.
    pub model: String,
    /// The body's `voice`.
    pub voice: String,
    /// `response_format`, `"mp3"` when absent.
    pub format: String,
    /// The body's `speed`, if any.
    pub speed: Option<f64>,
    /// The body's `instructions`, if any.
    pub instructions: Option<String>,
    /// The injected fault, if a rule matched.
    pub fault: Option<Fault>,
    /// The status sent; 0 when none was (`Reset`, `Hang`).
    pub status: u16,
    /// Duration of the audio served, only for a full success.
    pub audio_seconds: Option<f64>,
    /// Body bytes the server sent (for `ShortBody`, the half it sent).
    pub bytes: usize,
}

/// A running fake API; dropping it stops the server and joins its thread.
pub struct FakeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Configures a [`FakeApi`] before it starts.
pub struct FakeApiBuilder(State);

impl Default for FakeApiBuilder {
    fn default() -> Self {
        FakeApiBuilder(State {
            key: DEFAULT_KEY.to_owned(),
            latency: Duration::ZERO,
            ms_per_char: 50,
            rate_limit: None,
            rules: Vec::new(),
            next_index: 0,
            log: Vec::new(),
            success_headers: Vec::new(),
            char_share: None,
            served: std::collections::HashMap::new(),
            hearing: Hearing::Text,
            hearing_rules: Vec::new(),
            open: false,
            pcm_rate: None,
        })
    }
}

impl FakeApiBuilder {
    /// What the transcription endpoint hears in the audio this server served (default: the
    /// text, word for word).
    pub fn hearing(mut self, hearing: Hearing) -> Self {
        self.0.hearing = hearing;
        self
    }

    /// The first `times` transcriptions of audio whose text contains `needle` hear `hearing`.
    pub fn hear_when(mut self, needle: &str, hearing: Hearing, times: usize) -> Self {
        self.0
            .hearing_rules
            .push((needle.to_owned(), hearing, times));
        self
    }

    /// The API key the server accepts.
    pub fn key(mut self, key: &str) -> Self {
        self.0.key = key.to_owned();
        self
    }

    /// A local server: it needs no key, and checks none.
    pub fn no_key(mut self) -> Self {
        self.0.open = true;
        self
    }

    /// `pcm` answers at `rate` Hz, said in an `X-Sample-Rate` header, as a local Piper server
    /// answers.
    pub fn pcm_rate(mut self, rate: u64) -> Self {
        self.0.pcm_rate = Some(rate);
        self
    }

    /// How long the server waits before answering each request (and before `Reset`).
    pub fn latency(mut self, latency: Duration) -> Self {
        self.0.latency = latency;
        self
    }

    /// Milliseconds of audio per character of input (default 50: 20 characters a second).
    /// Keep it a pace a voice could have: the run's audio checks doubt (and ask again for) an
    /// answer faster than 84 characters a second (12 ms) for Latin text, or 27 (37 ms) for
    /// Chinese, before the run has learnt its voice's pace.
    pub fn ms_per_char(mut self, ms: u64) -> Self {
        self.0.ms_per_char = ms;
        self
    }

    /// Accept at most `rpm` requests in any sliding 60 s window; the rest get a 429 with
    /// `retry-after`/`retry-after-ms` computed from the window, and every answer that passed
    /// through the limiter carries the `x-ratelimit-*-requests` headers.
    pub fn rate_limit_rpm(mut self, rpm: u32) -> Self {
        let per_second = self.0.rate_limit.as_ref().is_some_and(|l| l.per_second);
        self.0.rate_limit = Some(RateLimit {
            rpm: rpm.max(1),
            per_second,
            advertise: true,
            accepted: VecDeque::new(),
        });
        self
    }

    /// Enforce the rate limit without sending `x-ratelimit-*` headers: the client learns of
    /// the limit from 429s alone. Call after [`Self::rate_limit_rpm`].
    pub fn rate_limit_unadvertised(mut self) -> Self {
        if let Some(limit) = &mut self.0.rate_limit {
            limit.advertise = false;
        }
        self
    }

    /// Also enforce the per-second share of the RPM limit (`ceil(rpm / 60)` in any 1 s), as
    /// the real API does to stop a whole minute's budget arriving in one burst. Call after
    /// [`Self::rate_limit_rpm`].
    pub fn rate_limit_per_second_share(mut self) -> Self {
        if let Some(limit) = &mut self.0.rate_limit {
            limit.per_second = true;
        }
        self
    }

    /// The first `times` requests whose input contains `input_contains` get `fault`
    /// (`usize::MAX`: all of them).
    pub fn fault_when(mut self, input_contains: &str, fault: Fault, times: usize) -> Self {
        let needle = input_contains.to_owned();
        self.0.rules.push(Rule::When(needle, fault, times));
        self
    }

    /// The `n`-th request received (0-based, counting every request) gets `fault`.
    pub fn fault_nth(mut self, n: usize, fault: Fault) -> Self {
        self.0.rules.push(Rule::Nth(n, fault));
        self
    }

    /// The first attempt of each distinct request (input, voice, model, format, speed,
    /// instructions) gets, with `probability`, one of `fault_set`; retries of it are left alone.
    /// Both the draw and the choice are derived from `seed` and the request, so a run is
    /// reproducible whatever order the client sends in.
    pub fn fault_random_first_attempts(
        mut self,
        fault_set: Vec<Fault>,
        probability: f64,
        seed: u64,
    ) -> Self {
        let rule = Rule::Random(fault_set, probability, seed, HashSet::new());
        self.0.rules.push(rule);
        self
    }

    /// Every request after the first `n` gets `fault`.
    pub fn fault_after(mut self, n: usize, fault: Fault) -> Self {
        self.0.rules.push(Rule::After(n, fault));
        self
    }

    /// Every successful answer also carries the header `name: value`, verbatim (a hostile
    /// `x-ratelimit-reset-requests`, say).
    pub fn success_header(mut self, name: &'static str, value: &str) -> Self {
        self.0.success_headers.push((name, value.to_owned()));
        self
    }

    /// Accept at most `chars` input characters in any one second (the rest get a 429 with
    /// `retry-after-ms`): a client that spreads `--cpm` evenly never meets it.
    pub fn char_limit_per_second(mut self, chars: u64) -> Self {
        self.0.char_share = Some((chars, VecDeque::new()));
        self
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    pub fn start(self) -> FakeApi {
        self.start_on("127.0.0.1:0".parse().expect("an address"))
    }

    /// Binds `addr` (say, the address of a server that was stopped: the API is back) and
    /// starts serving.
    pub fn start_on(self, addr: SocketAddr) -> FakeApi {
        // Bound here, not on the server thread, so that the port is known (and a failure is
        // seen) before `start` returns.
        let listener = std::net::TcpListener::bind(addr).expect("fake API: bind");
        listener
            .set_nonblocking(true)
            .expect("fake API: nonblocking");
        let addr = listener.local_addr().expect("fake API: local_addr");
        let shared = Arc::new(Shared {
            started: Instant::now(),
            state: Mutex::new(self.0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            speech_in_flight: AtomicUsize::new(0),
            max_speech_in_flight: AtomicUsize::new(0),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fake-api-worker")
            .enable_all()
            .build()
            .expect("fake API: tokio runtime");
        let (stop, stopped) = oneshot::channel();
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fake-api".to_owned())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, served, stopped));
                // Every connection task was already joined; this only bounds a stuck worker.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .expect("fake API: spawn thread");
        FakeApi {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl FakeApi {
    /// Starts a server with the defaults: key [`DEFAULT_KEY`], no latency, no faults.
    pub fn start() -> FakeApi {
        FakeApiBuilder::default().start()
    }

    /// A builder to configure key, latency, rate limit and faults.
    pub fn builder() -> FakeApiBuilder {
        FakeApiBuilder::default()
    }

    /// The API base to give the client, e.g. `http://127.0.0.1:40123/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API key the server accepts.
    pub fn key(&self) -> String {
        self.shared.lock().key.clone()
    }

    /// Every request recorded since the start or the last [`Self::reset_log`], in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().log.clone()
    }

    /// The recorded requests answered 200 with full, correct audio.
    pub fn successes(&self) -> Vec<Recorded> {
        let state = self.shared.lock();
        state
            .log
            .iter()
            .filter(|r| r.status == 200 && r.fault.is_none())
            .cloned()
            .collect()
    }

    /// How many requests are recorded.
    pub fn count(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// The most requests that were being processed at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    /// The most speech requests (all but transcriptions) that were being processed at once.
    pub fn max_speech_in_flight(&self) -> usize {
        self.shared.max_speech_in_flight.load(Ordering::SeqCst)
    }

    /// Forgets the recorded requests and the concurrency peak. Request indices keep counting,
    /// so `fault_nth`/`fault_after` rules keep their meaning.
    pub fn reset_log(&self) {
        self.shared.lock().log.clear();
        self.shared.max_in_flight.store(0, Ordering::SeqCst);
        self.shared.max_speech_in_flight.store(0, Ordering::SeqCst);
    }

    /// Replaces all fault rules with one: after `n` more requests from now, every request
    /// gets `fault`.
    pub fn set_fault_after(&self, n: usize, fault: Fault) {
        let mut state = self.shared.lock();
        let from = state.next_index + n;
        state.rules = vec![Rule::After(from, fault)];
    }

    /// Changes the server's requests-per-minute limit from now on (the window keeps its history).
    pub fn set_rate_limit_rpm(&self, rpm: u32) {
        if let Some(limit) = &mut self.shared.lock().rate_limit {
            limit.rpm = rpm.max(1);
        }
    }

    /// Removes all fault rules: every valid request succeeds from now on.
    pub fn clear_faults(&self) {
        self.shared.lock().rules.clear();
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        // Dropping the sender wakes the accept loop, which aborts and joins every connection
        // task (hanging ones included) before the thread ends.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread is not worth a double panic here.
            let _ = thread.join();
        }
    }
}

/// What connection tasks share with the handle.
struct Shared {
    started: Instant,
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    speech_in_flight: AtomicUsize,
    max_speech_in_flight: AtomicUsize,
}

/// Behaviour and log under one lock, so that a request's index and its place in the log agree.
struct State {
    key: String,
    latency: Duration,
    ms_per_char: u64,
    rate_limit: Option<RateLimit>,
    rules: Vec<Rule>,
    next_index: usize,
    log: Vec<Recorded>,
    success_headers: Vec<(&'static str, String)>,
    /// At most this many input characters in any second: (limit, accepted (when, chars)).
    char_share: Option<(u64, VecDeque<(Instant, u64)>)>,
    /// The text and length of every audio served, by [`hearing::audio_id`].
    served: std::collections::HashMap<u64, (String, f64)>,
    /// What transcriptions hear, unless a rule says otherwise.
    hearing: Hearing,
    /// (needle in the text, what is heard, times left).
    hearing_rules: Vec<(String, Hearing, usize)>,
    /// A local server: no key needed (a key sent is not checked either).
    open: bool,
    /// `pcm` answers at this rate, stated in `X-Sample-Rate` (a local Piper server's 22050).
    pcm_rate: Option<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the log must not take the server down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Decides the answer to `req` and records it; returns its index and the latency to apply.
    fn decide(&self, req: &Request) -> (usize, Action, Duration) {
        if req.method == "POST" && req.path() == TRANSCRIPTION_PATH {
            return self.transcribe(req);
        }
        let speech = Speech::parse(&req.body);
        let mut state = self.lock();
        let index = state.next_index;
        state.next_index += 1;
        let now = Instant::now();
        let mut fault = None;
        let action = state.answer(index, req, &speech, now, &mut fault);
        let (status, bytes) = match &action {
            // Audio is made outside the lock; `fill_audio` records its size.
            Action::Send(reply) => (reply.status, reply.body.as_ref().map_or(0, Vec::len)),
            Action::Reset | Action::Hang => (0, 0),
        };
        state.log.push(Recorded {
            index,
            at_ms: now.duration_since(self.started).as_millis() as u64,
            path: req.target.clone(),
            authorization: req.header("authorization").map(str::to_owned),
            body: speech.body,
            input: speech.input,
            model: speech.model,
            voice: speech.voice,
            format: speech.format,
            speed: speech.speed,
            instructions: speech.instructions,
            fault,
            status,
            audio_seconds: None,
            bytes,
        });
        (index, action, state.latency)
    }

    /// A transcription: the key, the form, then what the audio is heard to say.
    fn transcribe(&self, req: &Request) -> (usize, Action, Duration) {
        let fields = hearing::multipart(req.header("content-type").unwrap_or(""), &req.body)
            .unwrap_or_default();
        let field = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .map(|f| String::from_utf8_lossy(&f.data).to_string())
        };
        let model = field("model").unwrap_or_default();
        let format = field("response_format").unwrap_or_else(|| "json".to_owned());
        let file = fields
            .iter()
            .find(|f| f.name == "file")
            .map(|f| f.data.clone());
        let granularities: Vec<String> = fields
            .iter()
            .filter(|f| f.name == "timestamp_granularities[]")
            .map(|f| String::from_utf8_lossy(&f.data).to_string())
            .collect();
        let mut state = self.lock();
        let index = state.next_index;
        state.next_index += 1;
        let mut text = String::new();
        let reply = if let Some(denied) = check_key(req.header("authorization"), &state.key) {
            denied
        } else if file.is_none() || model.is_empty() {
            invalid_request(
                400,
                "[{'type': 'missing', 'loc': ('body', 'file'), 'msg': 'Field required'}]",
                None,
            )
        } else if format == "verbose_json" && model.starts_with("gpt-4o") {
            let message = format!(
                "response_format 'verbose_json' is not compatible with model '{model}'. Use 'json' or 'text' instead."
            );
            invalid_request(400, &message, Some("unsupported_value"))
        } else {
            let file = file.unwrap_or_default();
            // A WAV made from raw pcm the server served: its samples follow a 44-byte header.
            let found = state
                .served
                .get(&hearing::audio_id(&file))
                .or_else(|| {
                    file.get(44..)
                        .and_then(|d| state.served.get(&hearing::audio_id(d)))
                })
                .cloned();
            let (said, seconds) = found.unwrap_or_default();
            let rule = state
                .hearing_rules
                .iter_mut()
                .find(|(needle, _, left)| *left > 0 && said.contains(needle.as_str()));
            let heard_as = match rule {
                Some((_, hearing, left)) => {
                    *left -= 1;
                    hearing.clone()
                }
                None => state.hearing.clone(),
            };
            match heard_as {
                Hearing::Error(status, message) if status >= 500 => {
                    api_error(status, &message, "server_error", None)
                }
                Hearing::Error(status, message) => invalid_request(status, &message, None),
                other => {
                    text = hearing::heard(&said, &other);
                    let words = granularities.iter().any(|g| g == "word");
                    let body = hearing::answer(&text, seconds, format == "verbose_json", words);
                    Reply::new(200, "application/json", body.to_string())
                }
            }
        };
        let now = Instant::now();
        let status = reply.status;
        let bytes = reply.body.as_ref().map_or(0, Vec::len);
        state.log.push(Recorded {
            index,
            at_ms: now.duration_since(self.started).as_millis() as u64,
            path: req.target.clone(),
            authorization: req.header("authorization").map(str::to_owned),
            body: json!({"model": model, "response_format": format, "language": field("language"),
                         "timestamp_granularities": granularities}),
            input: text,
            model,
            voice: String::new(),
            format,
            speed: None,
            instructions: None,
            fault: None,
            status,
            audio_seconds: None,
            bytes,
        });
        (index, Action::Send(reply), state.latency)
    }

    /// The body to send and how many of its bytes to send, synthesising audio if the reply
    /// carries some and recording what was served.
    fn fill_audio(&self, index: usize, reply: &mut Reply) -> (Vec<u8>, usize) {
        let Some(audio) = reply.audio.take() else {
            let body = reply.body.take().unwrap_or_default();
            let len = body.len();
            return (body, len);
        };
        let pcm_rate = self.lock().pcm_rate.filter(|_| audio.format == "pcm");
        let (bytes, seconds) = match pcm_rate {
            Some(rate) => synth::pcm_at(audio.millis, rate),
            None => synth::audio(audio.format, audio.millis),
        };
        let send = if audio.short {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        let mut state = self.lock();
        let text = state
            .log
            .binary_search_by_key(&index, |r| r.index)
            .ok()
            .map(|pos| state.log[pos].input.clone());
        if let Some(text) = text {
            state
                .served
                .insert(hearing::audio_id(&bytes), (text, seconds));
        }
        // The log may have been reset meanwhile; then there is nothing to update.
        if let Ok(pos) = state.log.binary_search_by_key(&index, |r| r.index) {
            let record = &mut state.log[pos];
            record.bytes = send;
            record.audio_seconds = record.fault.is_none().then_some(seconds);
        }
        (bytes, send)
    }
}

impl State {
    /// Steps 1-6 of the module doc; sets `fault` when a rule injects one.
    fn answer(
        &mut self,
        index: usize,
        req: &Request,
        speech: &Speech,
        now: Instant,
        fault: &mut Option<Fault>,
    ) -> Action {
        if req.method != "POST" || req.path() != SPEECH_PATH {
            let message = format!("Invalid URL ({} {})", req.method, req.path());
            return Action::Send(invalid_request(404, &message, None));
        }
        if !self.open
            && let Some(denied) = check_key(req.header("authorization"), &self.key)
        {
            return Action::Send(denied);
        }
        if let Some(problem) = &speech.problem {
            return Action::Send(invalid_request(400, problem, None));
        }
        let chars = speech.input.chars().count() as u64;
        let millis = chars.saturating_mul(self.ms_per_char).max(MIN_AUDIO_MS);
        let audio = Audio {
            format: speech.format_name(),
            millis,
            short: false,
        };
        *fault = self.rules.iter_mut().find_map(|r| r.check(index, speech));
        if let Some(fault) = fault {
            return fault_action(fault, &speech.model, audio);
        }
        if let Some((share, accepted)) = &mut self.char_share {
            let second = Duration::from_secs(1);
            while accepted
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= second)
            {
                accepted.pop_front();
            }
            let used: u64 = accepted.iter().map(|(_, n)| n).sum();
            if used + chars > *share && !accepted.is_empty() {
                let wait = accepted.front().map_or(second, |(t, _)| *t + second - now);
                let ms = wait.as_micros().div_ceil(1000);
                let message = rate_limit_message(
                    &speech.model,
                    *share as usize,
                    used as usize,
                    &go_duration(wait),
                );
                let reply = api_error(429, &message, "tokens", Some("rate_limit_exceeded"));
                return Action::Send(reply.header("retry-after-ms", ms));
            }
            accepted.push_back((now, chars));
        }
        let mut headers = Vec::new();
        if let Some(limit) = &mut self.rate_limit {
            let admitted = limit.admit(now);
            if limit.advertise {
                headers = limit.headers(now);
            }
            if let Err(wait) = admitted {
                let (limit, used) = (limit.rpm as usize, limit.accepted.len());
                let message = rate_limit_message(&speech.model, limit, used, &go_duration(wait));
                let mut reply = api_error(429, &message, "requests", Some("rate_limit_exceeded"));
                reply.headers = headers;
                let ms = wait.as_micros().div_ceil(1000);
                let reply = reply.header("retry-after", ms.div_ceil(1000));
                return Action::Send(reply.header("retry-after-ms", ms));
            }
        }
        let stated_rate = self.pcm_rate.filter(|_| audio.format == "pcm");
        let mut reply = Reply::audio(content_type(audio.format), audio);
        headers.extend(self.success_headers.iter().cloned());
        if let Some(rate) = stated_rate {
            headers.push(("x-sample-rate", rate.to_string()));
        }
        reply.headers = headers;
        Action::Send(reply)
    }
}

/// A fault rule: which requests it picks (see the builder methods) and what they get.
enum Rule {
    /// Input contains the string; (string, fault, times left).
    When(String, Fault, usize),
    /// Request index equals.
    Nth(usize, Fault),
    /// First attempts; (faults, probability, seed, identities seen).
    Random(Vec<Fault>, f64, u64, HashSet<String>),
    /// Request index at least.
    After(usize, Fault),
}

impl Rule {
    /// The fault for this request if the rule matches, updating the rule's own counters.
    fn check(&mut self, index: usize, speech: &Speech) -> Option<Fault> {
        match self {
            Rule::When(needle, fault, left) => {
                if *left == 0 || !speech.input.contains(needle.as_str()) {
                    return None;
                }
                if *left != usize::MAX {
                    *left -= 1;
                }
                Some(fault.clone())
            }
            Rule::Nth(n, fault) => (index == *n).then(|| fault.clone()),
            Rule::After(from, fault) => (index >= *from).then(|| fault.clone()),
            Rule::Random(faults, probability, seed, seen) => {
                let identity = speech.identity();
                if faults.is_empty() || !seen.insert(identity.clone()) {
                    return None;
                }
                // FNV-1a rather than std's hasher, whose output may change between releases.
                let mut hash = 0xcbf2_9ce4_8422_2325 ^ *seed;
                for byte in identity.bytes() {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
                }
                let mut rng = fastrand::Rng::with_seed(hash);
                let chosen = faults[rng.usize(..faults.len())].clone();
                (rng.f64() < *probability).then_some(chosen)
            }
        }
    }
}

/// A sliding-window limiter over the requests it accepted.
struct RateLimit {
    rpm: u32,
    per_second: bool,
    /// Whether answers carry the `x-ratelimit-*` headers (some relays send none).
    advertise: bool,
    accepted: VecDeque<Instant>,
}

impl RateLimit {
    /// Accepts the request, or says how long until it would have been accepted.
    fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        let age = |t: &Instant| now.duration_since(*t);
        while self.accepted.front().is_some_and(|t| age(t) >= RATE_WINDOW) {
            self.accepted.pop_front();
        }
        let (len, rpm) = (self.accepted.len(), self.rpm as usize);
        let freed =
            |i: usize, window: Duration| (self.accepted[i] + window).saturating_duration_since(now);
        if len >= rpm {
            return Err(freed(len - rpm, RATE_WINDOW));
        }
        let (share, second) = (rpm.div_ceil(60), Duration::from_secs(1));
        let recent = self.accepted.iter().rev().take_while(|t| age(t) < second);
        if self.per_second && recent.count() >= share {
            return Err(freed(len - share, second));
        }
        self.accepted.push_back(now);
        Ok(())
    }

    /// `x-ratelimit-*-requests`. "reset" is when the oldest accepted request leaves the
    /// window: once `remaining` is 0, that is when the next request will be accepted.
    fn headers(&self, now: Instant) -> Vec<(&'static str, String)> {
        let remaining = (self.rpm as usize).saturating_sub(self.accepted.len());
        let reset = self.accepted.front().map(|t| *t + RATE_WINDOW);
        let reset = reset.map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        vec![
            ("x-ratelimit-limit-requests", self.rpm.to_string()),
            ("x-ratelimit-remaining-requests", remaining.to_string()),
            ("x-ratelimit-reset-requests", go_duration(reset)),
        ]
    }
}

/// The fields of a speech request, read leniently so that even invalid ones can be recorded.
struct Speech {
    body: Value,
    input: String,
    model: String,
    voice: String,
    format: String,
    speed: Option<f64>,
    instructions: Option<String>,
    /// Why the real API would answer 400, if it would.
    problem: Option<String>,
}

const BAD_JSON: &str = "We could not parse the JSON body of your request. (HINT: This likely \
    means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, \
    but what was sent was not valid JSON. If you have trouble figuring out how to fix this, \
    please contact us through our help center at help.openai.com.)";

impl Speech {
    fn parse(raw: &[u8]) -> Speech {
        let body: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
        let mut speech = Speech {
            input: text("input").unwrap_or_default(),
            model: text("model").unwrap_or_default(),
            voice: text("voice").unwrap_or_default(),
            format: text("response_format").unwrap_or_else(|| "mp3".to_owned()),
            speed: body.get("speed").and_then(Value::as_f64),
            instructions: text("instructions"),
            problem: None,
            body: Value::Null,
        };
        speech.problem = speech.validate(&body);
        speech.body = body;
        speech
    }

    fn validate(&self, body: &Value) -> Option<String> {
        // The real API reports validation errors as pydantic's error list, printed by Python.
        let pydantic = |kind: &str, field: &str, msg: &str, ctx: &str| {
            format!("[{{'type': '{kind}', 'loc': ('body', '{field}'), 'msg': '{msg}'{ctx}}}]")
        };
        if !body.is_object() {
            return Some(BAD_JSON.to_owned());
        }
        for field in ["model", "input", "voice"] {
            match body.get(field) {
                None | Some(Value::Null) => {
                    return Some(pydantic("missing", field, "Field required", ""));
                }
                Some(Value::String(_)) => {}
                Some(_) => {
                    let msg = "Input should be a valid string";
                    return Some(pydantic("string_type", field, msg, ""));
                }
            }
        }
        if let Some(limit) = token_limit(&self.model) {
            let tokens = count_tokens(&self.input);
            if tokens > limit {
                return Some(format!(
                    "Input of {tokens} tokens is over the maximum input limit of {limit} tokens"
                ));
            }
        }
        if self.input.chars().count() > MAX_INPUT_CHARS {
            let msg = "String should have at most 4096 characters";
            let ctx = ", 'ctx': {'max_length': 4096}";
            return Some(pydantic("string_too_long", "input", msg, ctx));
        }
        if !FORMATS.contains(&self.format.as_str()) {
            let supported = "'mp3', 'opus', 'aac', 'flac', 'wav', and 'pcm'";
            return Some(format!(
                "Invalid value: '{}'. Supported values are: {supported}.",
                self.format
            ));
        }
        None
    }

    /// The format as one of [`FORMATS`] (validation has checked it is one).
    fn format_name(&self) -> &'static str {
        FORMATS
            .into_iter()
            .find(|f| *f == self.format)
            .unwrap_or("mp3")
    }

    /// What makes two requests "the same" for `fault_random_first_attempts`.
    fn identity(&self) -> String {
        let request = (&self.input, &self.voice, &self.model, &self.format);
        format!("{request:?} {:?} {:?}", self.speed, self.instructions)
    }
}

/// The per-request token limit of a model, as the real API enforces it: 2000 tokens for the
/// gpt-4o-mini-tts family, none (only the 4096 characters) for the others.
fn token_limit(model: &str) -> Option<usize> {
    model
        .starts_with("gpt-4o-mini-tts")
        .then_some(MINI_TTS_MAX_TOKENS)
}

/// Tokens of `text` in the o200k encoding of the gpt-4o family.
pub fn count_tokens(text: &str) -> usize {
    static BPE: std::sync::OnceLock<tiktoken_rs::CoreBPE> = std::sync::OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().expect("the o200k vocabulary loads"))
        .encode_ordinary(text)
        .len()
}

/// What to do with the connection once a request is read.
enum Action {
    Send(Reply),
    Reset,
    Hang,
}

/// A response to send: `body` as is, or `audio` made by `synth` outside the state lock.
struct Reply {
    status: u16,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    audio: Option<Audio>,
}

/// Audio to synthesise; `short` sends only its first half.
#[derive(Clone, Copy)]
struct Audio {
    format: &'static str,
    millis: u64,
    short: bool,
}

impl Reply {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Reply {
        let (headers, body) = (Vec::new(), Some(body.into()));
        Reply {
            status,
            content_type,
            headers,
            body,
            audio: None,
        }
    }

    fn audio(content_type: &'static str, audio: Audio) -> Reply {
        let headers = Vec::new();
        Reply {
            status: 200,
            content_type,
            headers,
            body: None,
            audio: Some(audio),
        }
    }

    fn header(mut self, name: &'static str, value: impl ToString) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
}

/// An OpenAI-style error: `{"error":{"message","type","param":null,"code"}}`.
fn api_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Reply {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    Reply::new(status, "application/json", body.to_string())
}

fn invalid_request(status: u16, message: &str, code: Option<&str>) -> Reply {
    api_error(status, message, "invalid_request_error", code)
}

fn rate_limit_message(model: &str, limit: usize, used: usize, wait: &str) -> String {
    format!(
        "Rate limit reached for {model} in organization org-xyz on requests per min (RPM): \
         Limit {limit}, Used {used}, Requested 1. Please try again in {wait}. \
         Visit https://platform.openai.com/account/rate-limits to learn more."
    )
}

const SERVER_ERROR: &str =
    "The server had an error while processing your request. Sorry about that!";
const SLOW_DOWN: &str = "A sudden increase in your request rate is impacting service \
    reliability. Please reduce your request rate to its original level, maintain a consistent \
    rate for at least 15 minutes, and then gradually increase it.";
const QUOTA: &str = "You exceeded your current quota, please check your plan and billing details.";

fn fault_action(fault: &Fault, model: &str, audio: Audio) -> Action {
    let limited = |wait: String| {
        let message = rate_limit_message(model, 3, 3, &wait);
        api_error(429, &message, "requests", Some("rate_limit_exceeded"))
    };
    let asked = content_type(audio.format);
    Action::Send(match fault {
        Fault::Reset => return Action::Reset,
        Fault::Hang => return Action::Hang,
        Fault::Status500 => api_error(500, SERVER_ERROR, "server_error", None),
        Fault::BadGateway => Reply::new(502, "text/html", BAD_GATEWAY_HTML),
        Fault::Unavailable { retry_after_secs } => {
            let message = "The server is overloaded or not ready yet.";
            api_error(503, message, "server_error", None).header("retry-after", retry_after_secs)
        }
        Fault::ShortBody => Reply::audio(
            asked,
            Audio {
                short: true,
                ..audio
            },
        ),
        Fault::JsonErrorIn200 => api_error(200, SERVER_ERROR, "server_error", None),
        // The content type of a success, so that only the missing bytes give it away.
        Fault::EmptyBody => Reply::new(200, asked, Vec::new()),
        Fault::HtmlIn200 => Reply::new(200, "text/html; charset=utf-8", GATEWAY_PAGE_HTML),
        Fault::WrongFormat => {
            let format = if audio.format == "wav" { "mp3" } else { "wav" };
            Reply::audio(asked, Audio { format, ..audio })
        }
        Fault::ShortAudio => Reply::audio(
            asked,
            Audio {
                millis: (audio.millis / 3).max(1),
                ..audio
            },
        ),
        Fault::RateLimitMs { ms } => limited(format!("{ms}ms")).header("retry-after-ms", ms),
        Fault::RateLimitSecs { secs } => limited(format!("{secs}s")).header("retry-after", secs),
        Fault::RateLimitMessage { secs } => limited(format!("{secs}s")),
        Fault::SlowDown => api_error(429, SLOW_DOWN, "requests", Some("slow_down")),
        Fault::InsufficientQuota => {
            api_error(429, QUOTA, "insufficient_quota", Some("insufficient_quota"))
        }
        Fault::Status { code, message } if *code >= 500 => {
            api_error(*code, message, "server_error", None)
        }
        Fault::Status { code, message } => invalid_request(*code, message, None),
        Fault::RateLimitHeader { name, value } => limited("a while".to_owned()).header(name, value),
        Fault::Html { status, html } => Reply::new(*status, "text/html", html.clone()),
    })
}

const NO_KEY: &str = "You didn't provide an API key. You need to provide your API key in an \
    Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the \
    password field (with blank username) if you're accessing the API from your browser and are \
    prompted for a username and password. You can obtain an API key from \
    https://platform.openai.com/account/api-keys.";

/// `None` if the key is right, else the 401 the real API sends. It never echoes the whole key.
fn check_key(header: Option<&str>, key: &str) -> Option<Reply> {
    let presented = header.and_then(|h| {
        let (scheme, token) = h.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    });
    let Some(token) = presented else {
        return Some(invalid_request(401, NO_KEY, None));
    };
    if token == key {
        return None;
    }
    let shown = (token.chars().count() / 2).min(5);
    let masked: String = token
        .chars()
        .enumerate()
        .map(|(i, c)| if i < shown { c } else { '*' })
        .collect();
    let message = format!(
        "Incorrect API key provided: {masked}. You can find your API key at \
         https://platform.openai.com/account/api-keys."
    );
    Some(invalid_request(401, &message, Some("invalid_api_key")))
}

fn content_type(format: &str) -> &'static str {
    match format {
        "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => "audio/mpeg",
    }
}

/// A duration as Go prints it, which is what OpenAI's headers and messages use: `12ms`,
/// `1.5s`, `6m0s`, `1h2m3s` (rounded up to the millisecond: a wait is never understated).
fn go_duration(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000) as u64;
    match ms {
        0 => return "0s".to_owned(),
        1..1000 => return format!("{ms}ms"),
        _ => {}
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}");
    if frac > 0 {
        let _ = write!(out, ".{}", format!("{frac:03}").trim_end_matches('0'));
    }
    out + "s"
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

async fn accept_loop(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = TcpListener::from_std(listener).expect("fake API: register listener");
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(Arc::clone(&shared), stream));
                }
                // E.g. out of file descriptors: back off instead of spinning, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
        while connections.try_join_next().is_some() {}
    }
    // Aborts hanging and sleeping connections too, so shutdown never waits on a client.
    connections.shutdown().await;
}

/// Counts a request as in flight for as long as it lives, even if its task is aborted; a
/// speech request (anything but a transcription) is counted apart too.
struct InFlight<'a>(&'a Shared, bool);

impl<'a> InFlight<'a> {
    fn enter(shared: &'a Shared, path: &str) -> Self {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let speech = !path.starts_with(TRANSCRIPTION_PATH);
        if speech {
            let now = shared.speech_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            shared.max_speech_in_flight.fetch_max(now, Ordering::SeqCst);
        }
        InFlight(shared, speech)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.1 {
            self.0.speech_in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Serves requests on one connection until either side closes it (keep-alive).
async fn serve_connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        let req = match read_request(&mut stream, &mut buf).await {
            Ok(req) => req,
            Err(None) => return,
            Err(Some(mut reply)) => {
                // Where the request ends is unknown, so the connection cannot be reused.
                let body = reply.body.take().unwrap_or_default();
                let head = response_head(&reply, body.len(), "req_unparsed", true);
                let _ = stream.write_all(&[head.into_bytes(), body].concat()).await;
                return close_gracefully(stream).await;
            }
        };
        let in_flight = InFlight::enter(&shared, &req.target);
        let (index, action, latency) = shared.decide(&req);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut reply = match action {
            Action::Send(reply) => reply,
            Action::Reset => {
                // SO_LINGER 0 makes the close send RST instead of FIN: the client sees a reset.
                let _ = stream.set_zero_linger();
                return;
            }
            // Never answer; end when the client gives up. Server shutdown aborts this too.
            Action::Hang => return drain(&mut stream).await,
        };
        let (body, send) = shared.fill_audio(index, &mut reply);
        let close = !req.keep_alive;
        let head = response_head(&reply, body.len(), &format!("req_{index:032x}"), close);
        let wire = [head.as_bytes(), &body[..send]].concat();
        if stream.write_all(&wire).await.is_err() {
            return;
        }
        if close || send < body.len() {
            // The request is answered even if the client is slow to hang up.
            drop(in_flight);
            // A short body ends with FIN, so the client sees the missing bytes as such.
            return close_gracefully(stream).await;
        }
    }
}

/// Reads and discards until the client closes its side (or the connection fails).
async fn drain(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Sends FIN, then gives the client a moment to close: closing with unread bytes in the
/// receive buffer (say, a refused chunked body) would send RST and could destroy the
/// response before the client has read it.
async fn close_gracefully(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(1), drain(&mut stream)).await;
}

fn response_head(reply: &Reply, len: usize, request_id: &str, close: bool) -> String {
    let (status, content_type) = (reply.status, reply.content_type);
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {len}\r\n\
         x-request-id: {request_id}\r\n",
        reason(status)
    );
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head + "\r\n"
}

/// A request read off the wire.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

impl Request {
    /// The path without the query string.
    fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// The first header named `name` (lower case).
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request, leaving any bytes after it (a pipelined request) in `buf`. The error is
/// `None` if the client closed the connection, else the reply that refuses the request.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Request, Option<Reply>> {
    let refuse = |status, message: &str| Some(invalid_request(status, message, None));
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(refuse(431, "request header too large"));
        }
        read_more(stream, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let parts: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(refuse(400, "malformed request line"));
    };
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(refuse(400, "malformed header"));
        };
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let (method, target) = (method.to_owned(), target.to_owned());
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
        keep_alive: true,
    };
    if req.header("transfer-encoding").is_some() {
        return Err(refuse(
            411,
            "chunked request bodies are not supported; send content-length",
        ));
    }
    let len = match req.header("content-length").map(str::parse::<usize>) {
        None => 0,
        Some(Ok(len)) if len <= MAX_BODY_BYTES => len,
        Some(Ok(_)) => return Err(refuse(413, "request body too large")),
        Some(Err(_)) => return Err(refuse(400, "invalid content-length")),
    };
    let connection = req
        .header("connection")
        .unwrap_or_default()
        .to_ascii_lowercase();
    req.keep_alive = match version {
        "HTTP/1.0" => connection.contains("keep-alive"),
        _ => !connection.contains("close"),
    };
    let expects = req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
    if expects && buf.len() < head_end + len {
        stream
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| None)?;
    }
    while buf.len() < head_end + len {
        read_more(stream, buf).await?;
    }
    req.body = buf.drain(..head_end + len).skip(head_end).collect();
    Ok(req)
}

/// Appends what the socket has; `Err(None)` once the client has closed it.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Option<Reply>> {
    let mut chunk = [0u8; 8 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err(None),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}
