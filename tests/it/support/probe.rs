//! What ffprobe and ffmpeg read back from a file: tags, cover, chapters, durations.
#![allow(dead_code)] // shared by the book tests and the unit tests of `src/book`

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub struct Info {
    /// Format and stream tags, keys lowercased.
    pub tags: HashMap<String, String>,
    pub has_cover: bool,
    pub duration: f64,
    /// (title, start, end) in seconds.
    pub chapters: Vec<(String, f64, f64)>,
}

pub fn probe(path: &Path) -> Info {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_format",
            "-show_streams",
            "-show_chapters",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut tags = HashMap::new();
    let mut add = |t: &serde_json::Value| {
        if let Some(m) = t.as_object() {
            for (k, v) in m {
                tags.insert(k.to_lowercase(), v.as_str().unwrap_or_default().to_owned());
            }
        }
    };
    add(&v["format"]["tags"]);
    let mut has_cover = false;
    for s in v["streams"].as_array().into_iter().flatten() {
        if s["codec_type"] == "video" || s["disposition"]["attached_pic"] == 1 {
            has_cover = true;
        } else {
            add(&s["tags"]);
        }
    }
    if tags.contains_key("metadata_block_picture") {
        has_cover = true;
    }
    let num = |x: &serde_json::Value| {
        x.as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    let chapters = v["chapters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["tags"]["title"].as_str().unwrap_or_default().to_owned(),
                num(&c["start_time"]),
                num(&c["end_time"]),
            )
        })
        .collect();
    Info {
        tags,
        has_cover,
        duration: num(&v["format"]["duration"]),
        chapters,
    }
}

/// Seconds of audio ffmpeg decodes from the file (as 24 kHz mono samples).
pub fn decoded_seconds(path: &Path) -> f64 {
    samples(path).len() as f64 / 24000.0
}

/// The file decoded by ffmpeg to 24 kHz mono 16-bit samples.
pub fn samples(path: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a", "-f", "s16le", "-ac", "1", "-ar", "24000", "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Root mean square of `samples` (24 kHz) between two times in seconds.
pub fn rms(samples: &[i16], from: f64, to: f64) -> f64 {
    let at = |t: f64| ((t.max(0.0) * 24_000.0) as usize).min(samples.len());
    let window = &samples[at(from)..at(to)];
    if window.is_empty() {
        return 0.0;
    }
    (window
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / window.len() as f64)
        .sqrt()
}

/// Seconds of audio `ffmpeg` decodes from `path` (raw `pcm` read as the API's 24 kHz s16le).
pub fn ffmpeg_seconds(path: &Path) -> f64 {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error", "-nostdin"]);
    if path.extension().is_some_and(|e| e == "pcm") {
        cmd.args(["-f", "s16le", "-ar", "24000", "-ac", "1"]);
    }
    let out = cmd
        .arg("-i")
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .expect("ffmpeg is installed");
    assert!(
        out.status.success(),
        "ffmpeg could not decode {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len() as f64 / 2.0 / 48_000.0
}

/// One frame of each format at 22,050 Hz (espeak-ng's and most Piper voices' rate), the
/// tolerance of a length (plus the 48 kHz rounding).
pub fn frame_seconds(format: &str) -> f64 {
    let frame = match format {
        "mp3" => 576.0 / 22_050.0,
        "opus" => 0.020,
        "pcm" => 1.0 / 24_000.0,
        _ => 0.0,
    };
    frame + 2.0 / 48_000.0
}
