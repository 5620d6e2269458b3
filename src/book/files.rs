//! Writing the book's small text outputs (playlist, subtitles) only when their bytes change, so
//! a run that changes nothing leaves them (and their modification times) alone, and an edit
//! rewrites only what it touches.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Writes `path` with what `fill` writes, through a temporary file renamed over it, unless the
/// file already holds exactly those bytes. Returns whether it wrote.
pub fn write_if_changed(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tts-tmp"));
    let result = (|| {
        let mut w = BufWriter::new(File::create(&temp)?);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        if same_bytes(&temp, path)? {
            std::fs::remove_file(&temp)?;
            return Ok(false);
        }
        std::fs::rename(&temp, path)?;
        Ok(true)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Whether two files have the same bytes (false when `b` is missing), read in blocks.
fn same_bytes(a: &Path, b: &Path) -> io::Result<bool> {
    let (fa, fb) = match (File::open(a), File::open(b)) {
        (Ok(fa), Ok(fb)) => (fa, fb),
        (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ra, mut rb) = (BufReader::new(fa), BufReader::new(fb));
    let (mut ba, mut bb) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut ra, &mut ba)?;
        let m = read_full(&mut rb, &mut bb)?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("playlist.m3u8");
        assert!(write_if_changed(&p, |w| w.write_all(b"a")).unwrap());
        assert!(!write_if_changed(&p, |w| w.write_all(b"a")).unwrap());
        assert!(write_if_changed(&p, |w| w.write_all(b"b")).unwrap());
        assert_eq!(std::fs::read(&p).unwrap(), b"b");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
