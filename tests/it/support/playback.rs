//! What a player makes of a file: the `ffmpeg` program decodes it (an independent decoder, not
//! the symphonia readers the tool measures with) and `ffprobe` says the length its container
//! states. Both must be installed (`.ci/run` installs them); a test that needs them fails
//! loudly without them.

use std::path::Path;
use std::process::Command;

/// Runs `cmd` to a successful end (the program missing or failing fails the test).
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (ffmpeg and ffprobe must be installed)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Seconds of audio ffmpeg decodes from `path` (raw pcm: 24 kHz 16-bit mono), failing on any
/// complaint of the decoder. Ogg Opus decodes at 48 kHz, everything else here at 24 kHz.
pub fn ffmpeg_seconds(path: &Path) -> f64 {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin"]);
    if ext == "pcm" {
        cmd.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    let rate = if ext == "opus" { 48_000 } else { 24_000 };
    cmd.arg("-i")
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", &rate.to_string(), "-"]);
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{}: ffmpeg says {stderr}",
        path.display()
    );
    (out.stdout.len() / 2) as f64 / f64::from(rate)
}

/// The length ffprobe says the file's container states; an estimate from the bitrate (what
/// ffprobe does for an mp3 with no Xing/Info frame) fails the test.
pub fn ffprobe_seconds(path: &Path) -> f64 {
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "warning",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.trim().is_empty(),
        "{}: ffprobe says {stderr}",
        path.display()
    );
    let said = String::from_utf8_lossy(&out.stdout);
    said.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{}: ffprobe says {said:?}", path.display()))
}

/// How many streams ffprobe finds in the file.
pub fn ffprobe_streams(path: &Path) -> usize {
    let out = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=index",
            "-of",
            "csv=p=0",
        ])
        .arg(path));
    String::from_utf8_lossy(&out.stdout).lines().count()
}
