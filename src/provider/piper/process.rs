//! One warm `piper` process: started once with a voice and a length scale, it keeps the voice
//! loaded and speaks one utterance per line of its stdin into a WAV file of its own output
//! folder (`--output-dir`), naming the file it wrote on a line of its log (piper-tts 1.x:
//! `INFO:__main__:Wrote <dir>/<n>.wav` on stderr; the older C++ piper printed the path on
//! stdout). That line is how the end of each utterance is known; the file is read and removed.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use super::program::PiperError;
use crate::provider::encode::{self, Samples};

/// Lines of the program's log kept for an error message.
const TAIL_LINES: usize = 12;

/// What a warm process was started with: the same voice at the same length scale can reuse it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub model: PathBuf,
    pub config: PathBuf,
    pub length_scale: f64,
}

/// A running `piper` with its voice loaded.
#[derive(Debug)]
pub struct Warm {
    pub key: Key,
    child: Child,
    stdin: ChildStdin,
    /// Lines the program writes, stdout and stderr together; closed when both end.
    lines: mpsc::UnboundedReceiver<String>,
    /// Its output folder, removed with it.
    dir: OutputDir,
    /// Its last log lines that were not a finished utterance.
    tail: VecDeque<String>,
}

impl Warm {
    /// Starts `program` with the voice of `key`. The voice loads while the first text is on
    /// its way.
    pub fn start(program: &Path, key: Key) -> Result<Warm, PiperError> {
        let spawn_error = |source| PiperError::Spawn {
            program: program.to_owned(),
            source,
        };
        let dir = OutputDir::create().map_err(spawn_error)?;
        let mut child = Command::new(program)
            .arg("--model")
            .arg(&key.model)
            .arg("--config")
            .arg(&key.config)
            .arg("--length-scale")
            .arg(key.length_scale.to_string())
            .arg("--output-dir")
            .arg(&dir.0)
            // The text arrives as UTF-8 whatever the user's locale.
            .env("PYTHONIOENCODING", "utf-8")
            .env("PYTHONUTF8", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(spawn_error(std::io::Error::other(
                "no pipes to the program",
            )));
        };
        let (sender, lines) = mpsc::unbounded_channel();
        forward_lines(stdout, sender.clone());
        forward_lines(stderr, sender);
        Ok(Warm {
            key,
            child,
            stdin,
            lines,
            dir,
            tail: VecDeque::new(),
        })
    }

    /// The process's id, while it runs.
    #[cfg(test)]
    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    /// Speaks `text`: one line to the program, then the WAV it names. The text's line breaks
    /// become spaces (one utterance is one line). An error leaves the process unusable: drop it.
    pub async fn speak(&mut self, text: &str) -> Result<Samples, PiperError> {
        let line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let line = line.trim();
        if line.is_empty() {
            // piper skips an empty line and would never answer.
            return Err(PiperError::NoAudio);
        }
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        // A program that ended closes its stdin; the loop below then finds its pipes closed
        // and says why it ended, which is more than the broken pipe would.
        let _ = async {
            self.stdin.write_all(&bytes).await?;
            self.stdin.flush().await
        }
        .await;
        let prefix = self.dir.0.to_string_lossy().into_owned();
        loop {
            let Some(message) = self.lines.recv().await else {
                // Both pipes closed: the program ended. Its status and last words say why.
                return Err(self.ended().await);
            };
            if let Some(at) = message.find(&prefix) {
                let path = PathBuf::from(message[at..].trim_end());
                if path.extension().is_some_and(|e| e == "wav") {
                    return read_utterance(&path);
                }
            }
            if self.tail.len() == TAIL_LINES {
                self.tail.pop_front();
            }
            self.tail.push_back(message);
        }
    }

    /// The error of a program that ended: its exit status and its last log lines.
    async fn ended(&mut self) -> PiperError {
        let tail: Vec<&str> = self.tail.iter().map(String::as_str).collect();
        match self.child.wait().await {
            Ok(status) => PiperError::ended(&status, &tail.join("\n")),
            Err(source) => PiperError::Spawn {
                program: PathBuf::from(super::program::PROGRAM),
                source,
            },
        }
    }
}

/// Reads and removes the WAV of one utterance.
fn read_utterance(path: &Path) -> Result<Samples, PiperError> {
    let bad = |e: std::io::Error| {
        PiperError::BadWav(format!(
            "{}: {}",
            path.display(),
            crate::domain::io_reason(&e)
        ))
    };
    let bytes = std::fs::read(path).map_err(bad)?;
    std::fs::remove_file(path).map_err(bad)?;
    encode::read_wav(&bytes).map_err(|e| PiperError::BadWav(e.to_owned()))
}

/// Sends each line of `pipe` (lossily decoded, without its line break) until it ends.
fn forward_lines(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    sender: mpsc::UnboundedSender<String>,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end_matches(['\n', '\r']).to_owned();
                    if sender.send(text).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// A private folder for one process's WAV files in the system's temporary folder, removed
/// (with anything left in it) when the process is dropped.
#[derive(Debug)]
struct OutputDir(PathBuf);

impl OutputDir {
    fn create() -> std::io::Result<OutputDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!("tts-batch-piper-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(OutputDir(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
