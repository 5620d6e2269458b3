//! The M4B book's tags put in without reading its audio: the `moov` atom (the index, a few MB
//! for a long book) is read, its `udta/meta` replaced by one holding the new `ilst`, and the
//! file streamed once into a copy with the new `moov` in place of the old. When the `moov`
//! comes before the audio (`+faststart`), every chunk offset (`stco`, `co64`) is moved by the
//! change in its size.
//!
//! Why by hand: `lofty`, which builds the `ilst` (`Ilst::dump_to`), reads the whole file into
//! memory to save a tag into an MP4, which for a ten-hour book is some 300 MB; the `mp4`
//! crates rewrite the whole `moov` from their own model of it and drop the atoms they do not
//! know. What is needed here is a walk over atom headers (size, type) and two tables of
//! offsets, nothing more. The rest of the `moov` (tracks, the chapter track, Nero `chpl`
//! chapters in `udta`) is copied byte for byte.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::store::TempFile;

/// The largest `moov` read into memory: its sample tables are 4 bytes an AAC frame, some
/// 340 KB an hour at 24 kHz, so this is hundreds of hours of audio.
const MAX_MOOV: u64 = 256 * 1024 * 1024;

/// Containers on the way from `moov` to the chunk offset tables.
const TO_OFFSETS: [&[u8; 4]; 4] = [b"trak", b"mdia", b"minf", b"stbl"];

/// One atom: where it starts, its header's length and its whole length.
#[derive(Debug, Clone, Copy)]
struct Atom {
    kind: [u8; 4],
    start: u64,
    header: u64,
    len: u64,
}

impl Atom {
    fn end(&self) -> u64 {
        self.start + self.len
    }
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Replaces the MP4 file's iTunes metadata (`moov/udta/meta`) with `ilst` (a whole `ilst`
/// atom, as `lofty` dumps it). The file is rewritten through a copy beside it, renamed over it.
pub fn replace_ilst(path: &Path, ilst: &[u8]) -> io::Result<()> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let top = atoms_of_file(&mut file, len)?;
    let mut moovs = top.iter().filter(|a| &a.kind == b"moov");
    let moov = *moovs.next().ok_or_else(|| bad("no moov atom"))?;
    if moovs.next().is_some() {
        return Err(bad("two moov atoms"));
    }
    if moov.len > MAX_MOOV {
        return Err(bad(format!("a moov atom of {} bytes", moov.len)));
    }
    let mut old = vec![0u8; usize::try_from(moov.len).map_err(|_| bad("moov too large"))?];
    file.seek(SeekFrom::Start(moov.start))?;
    file.read_exact(&mut old)?;

    let mut new = new_moov(&old, moov.header, ilst)?;
    // Offsets at or after the old moov's end point at audio that moves with it.
    let moved = top
        .iter()
        .any(|a| &a.kind == b"mdat" && a.start >= moov.end());
    if moved {
        let delta = i128::from(len_u64(new.len())) - i128::from(moov.len);
        shift_offsets(&mut new, moov.end(), delta)?;
    }

    let temp = TempFile::in_existing_folder(path);
    {
        let mut out = BufWriter::with_capacity(256 * 1024, File::create(temp.path())?);
        let mut src = BufReader::with_capacity(256 * 1024, &mut file);
        src.seek(SeekFrom::Start(0))?;
        copy_exactly(&mut src, &mut out, moov.start)?;
        out.write_all(&new)?;
        src.seek(SeekFrom::Start(moov.end()))?;
        copy_exactly(&mut src, &mut out, len - moov.end())?;
        out.flush()?;
    }
    drop(file);
    temp.rename_to(path)
}

fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn copy_exactly(src: &mut impl Read, out: &mut impl Write, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut src.take(n), out)?;
    if copied != n {
        return Err(bad("the file ended early"));
    }
    Ok(())
}

/// The top-level atoms of a file of `len` bytes.
fn atoms_of_file(file: &mut File, len: u64) -> io::Result<Vec<Atom>> {
    let mut atoms = Vec::new();
    let mut at = 0u64;
    while at < len {
        file.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 16];
        let have = len.saturating_sub(at).min(16) as usize;
        file.read_exact(&mut head[..have])?;
        let atom = header(&head[..have], at, len)?;
        at = atom.end();
        atoms.push(atom);
    }
    Ok(atoms)
}

/// The atoms in `bytes[from..to]`, their starts relative to `bytes`.
fn atoms_in(bytes: &[u8], from: u64, to: u64) -> io::Result<Vec<Atom>> {
    let mut atoms = Vec::new();
    let mut at = from;
    while at < to {
        let start = usize::try_from(at).map_err(|_| bad("offset"))?;
        let head = bytes.get(start..).ok_or_else(|| bad("atom past the end"))?;
        let atom = header(&head[..head.len().min(16)], at, to)?;
        at = atom.end();
        atoms.push(atom);
    }
    Ok(atoms)
}

/// Reads an atom's header at `start` from `head` (its first bytes); `limit` is where its
/// parent ends.
fn header(head: &[u8], start: u64, limit: u64) -> io::Result<Atom> {
    let word = |i: usize| -> io::Result<[u8; 4]> {
        head.get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("a cut atom header"))
    };
    let size = u64::from(u32::from_be_bytes(word(0)?));
    let kind = word(4)?;
    let (header, len) = match size {
        0 => (8, limit - start),
        1 => {
            let mut big = [0u8; 8];
            big[..4].copy_from_slice(&word(8)?);
            big[4..].copy_from_slice(&word(12)?);
            (16, u64::from_be_bytes(big))
        }
        n => (8, n),
    };
    if len < header || start.checked_add(len).is_none_or(|end| end > limit) {
        return Err(bad(format!(
            "atom {} at {start} has a bad size {len}",
            String::from_utf8_lossy(&kind)
        )));
    }
    Ok(Atom {
        kind,
        start,
        header,
        len,
    })
}

fn slice(bytes: &[u8], from: u64, to: u64) -> io::Result<&[u8]> {
    let (from, to) = (
        usize::try_from(from).map_err(|_| bad("offset"))?,
        usize::try_from(to).map_err(|_| bad("offset"))?,
    );
    bytes.get(from..to).ok_or_else(|| bad("atom past the end"))
}

/// Appends an atom of `kind` holding `body` (with a 32-bit size).
fn push_atom(out: &mut Vec<u8>, kind: &[u8; 4], body: &[&[u8]]) -> io::Result<()> {
    let len: usize = 8 + body.iter().map(|b| b.len()).sum::<usize>();
    let size = u32::try_from(len).map_err(|_| bad("an atom over 4 GB"))?;
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(kind);
    for part in body {
        out.extend_from_slice(part);
    }
    Ok(())
}

/// The `moov` with its `udta` keeping every atom but `meta`, and a new `meta` holding `ilst`.
fn new_moov(old: &[u8], header_len: u64, ilst: &[u8]) -> io::Result<Vec<u8>> {
    let end = len_u64(old.len());
    let mut meta = Vec::new();
    // A full atom (version and flags), its handler `mdir`/`appl` as iTunes writes it, the list.
    let mut hdlr = Vec::new();
    push_atom(
        &mut hdlr,
        b"hdlr",
        &[&[0; 4], &[0; 4], b"mdirappl", &[0; 8], &[0]],
    )?;
    push_atom(&mut meta, b"meta", &[&[0; 4], &hdlr, ilst])?;

    let mut body = Vec::with_capacity(old.len() + meta.len());
    let mut had_udta = false;
    for child in atoms_in(old, header_len, end)? {
        let bytes = slice(old, child.start, child.end())?;
        if &child.kind != b"udta" {
            body.extend_from_slice(bytes);
            continue;
        }
        had_udta = true;
        let mut udta = Vec::new();
        for inner in atoms_in(old, child.start + child.header, child.end())? {
            if &inner.kind != b"meta" {
                udta.extend_from_slice(slice(old, inner.start, inner.end())?);
            }
        }
        udta.extend_from_slice(&meta);
        push_atom(&mut body, b"udta", &[&udta])?;
    }
    if !had_udta {
        push_atom(&mut body, b"udta", &[&meta])?;
    }
    let mut moov = Vec::with_capacity(body.len() + 8);
    push_atom(&mut moov, b"moov", &[&body])?;
    Ok(moov)
}

/// Adds `delta` to every chunk offset in `moov` at or after `from` (the audio after the moov).
fn shift_offsets(moov: &mut [u8], from: u64, delta: i128) -> io::Result<()> {
    let end = len_u64(moov.len());
    let mut tables = Vec::new();
    find_tables(moov, 8, end, 0, &mut tables)?;
    for table in tables {
        let wide = &table.kind == b"co64";
        // version and flags (4), entry count (4), the entries.
        let count_at = table.start + table.header + 4;
        let count = u32::from_be_bytes(
            slice(moov, count_at, count_at + 4)?
                .try_into()
                .map_err(|_| bad("stco"))?,
        );
        let width: u64 = if wide { 8 } else { 4 };
        let first = count_at + 4;
        let last = first + u64::from(count) * width;
        if last > table.end() {
            return Err(bad("a chunk offset table longer than its atom"));
        }
        for i in 0..u64::from(count) {
            let at = usize::try_from(first + i * width).map_err(|_| bad("offset"))?;
            let w = usize::try_from(width).map_err(|_| bad("offset"))?;
            let cell = &mut moov[at..at + w];
            let old = if wide {
                u64::from_be_bytes(cell.try_into().map_err(|_| bad("co64"))?)
            } else {
                u64::from(u32::from_be_bytes(
                    cell.try_into().map_err(|_| bad("stco"))?,
                ))
            };
            if old < from {
                continue;
            }
            let new = i128::from(old) + delta;
            if wide {
                let v = u64::try_from(new).map_err(|_| bad("a chunk offset out of range"))?;
                cell.copy_from_slice(&v.to_be_bytes());
            } else {
                let v = u32::try_from(new).map_err(|_| bad("a chunk offset past 4 GB"))?;
                cell.copy_from_slice(&v.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// The `stco` and `co64` atoms under `moov/trak/mdia/minf/stbl`.
fn find_tables(
    moov: &[u8],
    from: u64,
    to: u64,
    depth: usize,
    out: &mut Vec<Atom>,
) -> io::Result<()> {
    for atom in atoms_in(moov, from, to)? {
        match TO_OFFSETS.get(depth) {
            Some(kind) if &atom.kind == *kind => {
                find_tables(moov, atom.start + atom.header, atom.end(), depth + 1, out)?;
            }
            None if &atom.kind == b"stco" || &atom.kind == b"co64" => out.push(atom),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::book::meta::{BookMeta, tests as meta};
    use crate::book::probe;

    /// A 6-second AAC book with two chapters, as ffmpeg writes it: `moov` first (the layout
    /// the M4B book has) or last (ffmpeg's default).
    fn book(dir: &Path, faststart: bool) -> std::path::PathBuf {
        let chapters = dir.join("chapters.txt");
        std::fs::write(
            &chapters,
            ";FFMETADATA1\ntitle=old\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=3000\ntitle=One\n\
             [CHAPTER]\nTIMEBASE=1/1000\nSTART=3000\nEND=6000\ntitle=Two\n",
        )
        .unwrap();
        let out = dir.join(if faststart { "fast.m4b" } else { "slow.m4b" });
        let mut cmd = Command::new(crate::book::ffmpeg::find().unwrap());
        cmd.args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg("sine=frequency=440:sample_rate=24000:duration=6")
            .arg("-i")
            .arg(&chapters)
            .args(["-map_metadata", "1", "-map_chapters", "1", "-c:a", "aac"]);
        if faststart {
            cmd.args(["-movflags", "+faststart"]);
        }
        let status = cmd.args(["-f", "mp4"]).arg(&out).status().unwrap();
        assert!(status.success());
        out
    }

    fn moov_first(path: &Path) -> bool {
        let mut file = File::open(path).unwrap();
        let len = file.metadata().unwrap().len();
        let top = atoms_of_file(&mut file, len).unwrap();
        let at = |kind: &[u8; 4]| top.iter().position(|a| &a.kind == kind).unwrap();
        at(b"moov") < at(b"mdat")
    }

    fn decodes_cleanly(path: &Path) {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .unwrap();
        assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    }

    #[test]
    fn tags_replaced_with_the_audio_and_chapters_kept_wherever_the_moov_is() {
        let dir = tempfile::tempdir().unwrap();
        for faststart in [true, false] {
            let path = book(dir.path(), faststart);
            assert_eq!(moov_first(&path), faststart);
            let audio = probe::audio_hash(&path);
            let chapters = probe::probe(&path).chapters;
            assert_eq!(chapters.len(), 2);

            // Bigger (a cover, every field), then smaller: the moov grows and shrinks.
            crate::book::tags::write_mp4(&path, &meta::full_book()).unwrap();
            let tags = probe::format_tags(&path);
            meta::assert_full_tags(&tags, "m4b");
            assert!(probe::probe(&path).has_cover);
            assert_eq!(probe::audio_hash(&path), audio, "faststart {faststart}");
            assert_eq!(probe::probe(&path).chapters, chapters);
            decodes_cleanly(&path);

            let small = BookMeta {
                title: "Short".into(),
                ..BookMeta::default()
            };
            crate::book::tags::write_mp4(&path, &small).unwrap();
            let tags = probe::format_tags(&path);
            assert_eq!(tags.get("title").map(String::as_str), Some("Short"));
            assert_eq!(tags.get("artist"), None, "the old tags are gone: {tags:?}");
            assert!(!probe::probe(&path).has_cover);
            assert_eq!(probe::audio_hash(&path), audio);
            assert_eq!(probe::probe(&path).chapters, chapters);
            assert_eq!(moov_first(&path), faststart);
            decodes_cleanly(&path);
            // No temporary file left beside it.
            assert!(
                std::fs::read_dir(dir.path())
                    .unwrap()
                    .flatten()
                    .all(|e| !e.file_name().to_string_lossy().ends_with(".tts-tmp"))
            );
        }
    }

    #[test]
    fn a_file_that_is_not_mp4_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        for bytes in [
            &b""[..],
            b"\x00\x00\x00\x08free",
            b"\x00\x00\x00\x10moov\x00\x00\x00\xffudta",
            b"\xff\xff\xff\xffmoov",
            b"\x00\x00\x00\x01moov\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x00\x00\x00",
        ] {
            let path = dir.path().join("x.m4b");
            std::fs::write(&path, bytes).unwrap();
            assert!(
                replace_ilst(&path, b"\x00\x00\x00\x08ilst").is_err(),
                "{bytes:?}"
            );
        }
    }
}
