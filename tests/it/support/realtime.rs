//! A stand-in for OpenAI's Realtime API (`wss://…/v1/realtime?model=…`), on `127.0.0.1:0`, with
//! `tokio-tungstenite`. It speaks the documented events: `session.created` on connect,
//! `session.updated` for a `session.update`, and for each out-of-band `response.create`
//! `response.created`, the output item and content part, the PCM in several
//! `response.output_audio.delta` events (base64, 24 kHz 16-bit mono), the transcript's delta
//! and `response.output_audio_transcript.done`, `rate_limits.updated`, and `response.done` with
//! its status and `usage` (text-input and audio-output tokens, with their details).
//!
//! Behaviours are chosen per text, as the speech stand-in's faults are: a transcript that
//! rewords the text or answers it instead of reading it (until the instructions are firmer, or
//! always), `error` events (rate limit with "try again in", bad key, server error), a failed
//! response, a connection dropped mid-response, and a refused upgrade (any status, JSON body).
//! Every `response.create` is recorded ([`RtRequest`]).

#![allow(dead_code)] // shared by the test files and the benchmark; each uses a part

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;

use super::synth;

/// What the stand-in does with a response whose text contains a given string.
#[derive(Debug, Clone, PartialEq)]
pub enum RtFault {
    /// The transcript (and audio) leave out every other word, until the instructions are the
    /// firmer ones of a second request.
    RewordOnce,
    /// Every reading leaves out every other word, however firmly asked.
    RewordAlways,
    /// The voice answers the text instead of reading it, however firmly asked.
    Answer,
    /// An `error` event: `rate_limit_exceeded` whose message says "try again in 0.2s".
    RateLimit,
    /// An `error` event of type `server_error`.
    ServerError,
    /// An `error` event `invalid_api_key` (a key revoked mid-session).
    BadKey,
    /// `response.done` with status `failed` and a `server_error`.
    Failed,
    /// Some deltas, then the TCP connection is dropped without a close frame.
    Drop,
}

/// One `response.create` as the stand-in saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RtRequest {
    /// Which connection (0-based, in accept order) it came on.
    pub connection: usize,
    /// The `model` of the connection's URL.
    pub model: String,
    pub authorization: Option<String>,
    /// `response.conversation`.
    pub conversation: String,
    /// The text of the one input message.
    pub text: String,
    pub voice: String,
    pub instructions: String,
    /// The fault applied, if any.
    pub fault: Option<RtFault>,
    /// Seconds of audio sent, for a completed response.
    pub audio_seconds: Option<f64>,
    /// What `response.done` billed: (text input tokens, audio output tokens).
    pub usage: Option<(u64, u64)>,
    pub transcript: Option<String>,
}

struct State {
    key: Option<String>,
    ms_per_char: u64,
    rules: Vec<(String, RtFault, usize)>,
    refuse: Option<(u16, String)>,
    log: Vec<RtRequest>,
    connections: usize,
    deltas: usize,
    /// How long a response takes before its first event (the model thinking).
    latency: Duration,
}

/// Configures a [`RealtimeApi`].
pub struct RealtimeApiBuilder(State);

impl RealtimeApiBuilder {
    /// The key the server accepts (default [`super::KEY`]); `None`: any or none.
    pub fn key(mut self, key: Option<&str>) -> Self {
        self.0.key = key.map(str::to_owned);
        self
    }

    /// Milliseconds of audio per character (default 50).
    pub fn ms_per_char(mut self, ms: u64) -> Self {
        self.0.ms_per_char = ms;
        self
    }

    /// How long each response waits before its first event.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.0.latency = latency;
        self
    }

    /// Texts containing `needle` get `fault`, `times` times.
    pub fn fault_when(mut self, needle: &str, fault: RtFault, times: usize) -> Self {
        self.0.rules.push((needle.to_owned(), fault, times));
        self
    }

    /// Every upgrade is refused with `status` and an OpenAI error JSON saying `message`.
    pub fn refuse(mut self, status: u16, message: &str) -> Self {
        self.0.refuse = Some((status, message.to_owned()));
        self
    }

    pub fn start(self) -> RealtimeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("realtime: bind");
        listener
            .set_nonblocking(true)
            .expect("realtime: nonblocking");
        let addr = listener.local_addr().expect("realtime: addr");
        let shared = Arc::new(Mutex::new(self.0));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("realtime: runtime");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("realtime: listener");
                let mut stopped = stopped;
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let shared = Arc::clone(&served);
                            tokio::spawn(serve(stream, shared));
                        }
                    }
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        });
        RealtimeApi {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// A running stand-in; dropping it stops it.
pub struct RealtimeApi {
    addr: SocketAddr,
    shared: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for RealtimeApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock(shared: &Mutex<State>) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RealtimeApi {
    pub fn builder() -> RealtimeApiBuilder {
        RealtimeApiBuilder(State {
            key: Some(super::KEY.to_owned()),
            ms_per_char: 50,
            rules: Vec::new(),
            refuse: None,
            log: Vec::new(),
            connections: 0,
            deltas: 4,
            latency: Duration::ZERO,
        })
    }

    pub fn start() -> RealtimeApi {
        Self::builder().start()
    }

    /// The base URL to give `--base-url` (the client makes it `ws://…/v1/realtime`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every `response.create`, in order.
    pub fn requests(&self) -> Vec<RtRequest> {
        lock(&self.shared).log.clone()
    }

    /// The completed responses.
    pub fn completed(&self) -> Vec<RtRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.audio_seconds.is_some())
            .collect()
    }

    /// WebSocket connections accepted (upgrades refused included).
    pub fn connections(&self) -> usize {
        lock(&self.shared).connections
    }
}

/// The stand-in's own count of text tokens: about four characters a token, as o200k on prose.
pub fn text_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Audio-output tokens for `seconds` of speech: 20 a second, rounded up.
pub fn audio_tokens(seconds: f64) -> u64 {
    (seconds * 20.0).ceil() as u64
}

async fn serve(stream: tokio::net::TcpStream, shared: Arc<Mutex<State>>) {
    let connection = {
        let mut state = lock(&shared);
        state.connections += 1;
        state.connections - 1
    };
    let (refuse, key) = {
        let state = lock(&shared);
        (state.refuse.clone(), state.key.clone())
    };
    let seen = Arc::new(Mutex::new((String::new(), None::<String>)));
    let seen_in = Arc::clone(&seen);
    // The handshake callback's signature is tungstenite's: its error is the refusal itself.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        let model = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("model=")))
            .unwrap_or("")
            .to_owned();
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        *seen_in.lock().unwrap_or_else(PoisonError::into_inner) = (model, auth.clone());
        let refuse_with = |status: u16, message: &str, code: &str| {
            let body = json!({"error": {"message": message, "type": "invalid_request_error",
                "param": null, "code": code}})
            .to_string();
            let mut response = ErrorResponse::new(Some(body));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            response
        };
        if req.uri().path() != "/v1/realtime" {
            return Err(refuse_with(404, "Invalid URL", "not_found"));
        }
        if let Some((status, message)) = &refuse {
            return Err(refuse_with(*status, message, ""));
        }
        if let Some(key) = &key
            && auth.as_deref() != Some(&format!("Bearer {key}"))
        {
            return Err(refuse_with(
                401,
                "Incorrect API key provided.",
                "invalid_api_key",
            ));
        }
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else {
        return;
    };
    let (model, authorization) = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut event = 0u64;
    let mut next_id = |prefix: &str| {
        event += 1;
        format!("{prefix}_{event:06}")
    };
    let created = json!({"type": "session.created", "event_id": next_id("event"),
        "session": {"type": "realtime", "object": "realtime.session", "id": "sess_standin",
            "model": model, "output_modalities": ["audio"]}});
    if ws.send(Message::text(created.to_string())).await.is_err() {
        return;
    }
    let mut voice = "marin".to_owned();
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(client) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        match client["type"].as_str() {
            Some("session.update") => {
                if let Some(v) = client["session"]["audio"]["output"]["voice"].as_str() {
                    v.clone_into(&mut voice);
                }
                let updated = json!({"type": "session.updated", "event_id": next_id("event"),
                    "session": client["session"]});
                if ws.send(Message::text(updated.to_string())).await.is_err() {
                    return;
                }
            }
            Some("response.create") => {
                let response = &client["response"];
                let text = response["input"][0]["content"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let instructions = response["instructions"].as_str().unwrap_or("").to_owned();
                let voice = response["audio"]["output"]["voice"]
                    .as_str()
                    .unwrap_or(&voice)
                    .to_owned();
                let (fault, ms_per_char, deltas, latency) = {
                    let mut state = lock(&shared);
                    let fault = state.rules.iter_mut().find_map(|(needle, fault, left)| {
                        (*left > 0 && text.contains(needle.as_str())).then(|| {
                            *left -= 1;
                            fault.clone()
                        })
                    });
                    (fault, state.ms_per_char, state.deltas, state.latency)
                };
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                let firmer = instructions.contains("did not match");
                let record = RtRequest {
                    connection,
                    model: model.clone(),
                    authorization: authorization.clone(),
                    conversation: response["conversation"].as_str().unwrap_or("").to_owned(),
                    text: text.clone(),
                    voice,
                    instructions: instructions.clone(),
                    fault: fault.clone(),
                    audio_seconds: None,
                    usage: None,
                    transcript: None,
                };
                let index = {
                    let mut state = lock(&shared);
                    state.log.push(record);
                    state.log.len() - 1
                };
                let error = |code: &str, kind: &str, message: &str| {
                    json!({"type": "error", "event_id": "event_err",
                        "error": {"type": kind, "code": code, "message": message, "param": null,
                            "event_id": null}})
                };
                let said = match &fault {
                    Some(RtFault::RateLimit) => {
                        let e = error(
                            "rate_limit_exceeded",
                            "rate_limit_error",
                            "Rate limit reached for requests. Please try again in 0.2s.",
                        );
                        let _ = ws.send(Message::text(e.to_string())).await;
                        continue;
                    }
                    Some(RtFault::ServerError) => {
                        let e = error(
                            "",
                            "server_error",
                            "The server had an error while processing your request.",
                        );
                        let _ = ws.send(Message::text(e.to_string())).await;
                        continue;
                    }
                    Some(RtFault::BadKey) => {
                        let e = error(
                            "invalid_api_key",
                            "invalid_request_error",
                            "Incorrect API key provided.",
                        );
                        let _ = ws.send(Message::text(e.to_string())).await;
                        continue;
                    }
                    Some(RtFault::RewordOnce) if !firmer => every_other_word(&text),
                    Some(RtFault::RewordAlways) => every_other_word(&text),
                    Some(RtFault::Answer) => {
                        "Sure! Here is my answer: I think that is a lovely idea.".to_owned()
                    }
                    _ => text.clone(),
                };
                let millis = (said.chars().count() as u64 * ms_per_char).max(50);
                let (pcm, seconds) = synth::audio("pcm", millis);
                let response_id = next_id("resp");
                let item_id = next_id("item");
                let mut events = vec![
                    json!({"type": "response.created", "response": {"id": response_id,
                        "object": "realtime.response", "status": "in_progress",
                        "conversation_id": null, "output": []}}),
                    json!({"type": "response.output_item.added", "response_id": response_id,
                        "output_index": 0, "item": {"id": item_id, "type": "message",
                        "role": "assistant", "status": "in_progress", "content": []}}),
                    json!({"type": "response.content_part.added", "response_id": response_id,
                        "item_id": item_id, "output_index": 0, "content_index": 0,
                        "part": {"type": "output_audio", "transcript": ""}}),
                ];
                // Deltas cut at odd byte offsets too: a sample may straddle two deltas.
                let b64 = base64::engine::general_purpose::STANDARD;
                let step = pcm.len().div_ceil(deltas).max(1) | 1;
                for chunk in pcm.chunks(step) {
                    events.push(json!({"type": "response.output_audio.delta",
                        "response_id": response_id, "item_id": item_id, "output_index": 0,
                        "content_index": 0, "delta": b64.encode(chunk)}));
                }
                if fault == Some(RtFault::Drop) {
                    for e in events.iter().take(5) {
                        if ws.send(Message::text(e.to_string())).await.is_err() {
                            return;
                        }
                    }
                    // No close frame, no response.done: the connection is simply gone.
                    return;
                }
                let input = text_tokens(&instructions) + text_tokens(&text);
                let audio_out = audio_tokens(seconds);
                let failed = fault == Some(RtFault::Failed);
                events.push(json!({"type": "response.output_audio.done",
                    "response_id": response_id, "item_id": item_id, "output_index": 0,
                    "content_index": 0}));
                events.push(json!({"type": "response.output_audio_transcript.delta",
                    "response_id": response_id, "item_id": item_id, "output_index": 0,
                    "content_index": 0, "delta": said}));
                events.push(json!({"type": "response.output_audio_transcript.done",
                    "response_id": response_id, "item_id": item_id, "output_index": 0,
                    "content_index": 0, "transcript": said}));
                events.push(json!({"type": "rate_limits.updated", "rate_limits": [
                    {"name": "requests", "limit": 5000, "remaining": 4999, "reset_seconds": 0.012},
                    {"name": "tokens", "limit": 400000, "remaining": 399000, "reset_seconds": 0.15}]}));
                let (status, details) = if failed {
                    (
                        "failed",
                        json!({"type": "failed", "error": {"type": "server_error",
                        "code": "server_error"}}),
                    )
                } else {
                    ("completed", Value::Null)
                };
                events.push(
                    json!({"type": "response.done", "event_id": next_id("event"),
                    "response": {"id": response_id, "object": "realtime.response",
                        "status": status, "status_details": details, "conversation_id": null,
                        "output_modalities": ["audio"],
                        "usage": {"total_tokens": input + audio_out, "input_tokens": input,
                            "output_tokens": audio_out,
                            "input_token_details": {"text_tokens": input, "audio_tokens": 0,
                                "image_tokens": 0, "cached_tokens": 0,
                                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0}},
                            "output_token_details": {"text_tokens": 0,
                                "audio_tokens": audio_out}}}}),
                );
                for e in &events {
                    if ws.send(Message::text(e.to_string())).await.is_err() {
                        return;
                    }
                }
                let mut state = lock(&shared);
                if let Some(r) = state.log.get_mut(index) {
                    r.usage = Some((input, audio_out));
                    if !failed {
                        r.audio_seconds = Some(seconds);
                        r.transcript = Some(said);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A reading that leaves out every other word.
fn every_other_word(text: &str) -> String {
    text.split_whitespace()
        .step_by(2)
        .collect::<Vec<_>>()
        .join(" ")
}
