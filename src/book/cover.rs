//! The cover picture: read once from `--cover` (or the EPUB), checked to be a JPEG or PNG that
//! decodes to a size, and shared by every file's tags and the book file.

use std::path::{Path, PathBuf};

/// Why a cover cannot be used. It is bad input: the CLI reports it before anything is sent.
#[derive(Debug, thiserror::Error)]
pub enum CoverError {
    #[error("cover {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cover {}: not a JPEG or PNG image", path.display())]
    NotAnImage { path: PathBuf },
    #[error("cover {}: damaged {kind} image ({why})", path.display())]
    Damaged {
        path: PathBuf,
        kind: &'static str,
        why: String,
    },
    #[error("cover {}: {bytes} bytes is larger than the {MAX_COVER_BYTES} a tag can carry", path.display())]
    TooLarge { path: PathBuf, bytes: u64 },
}

/// Larger pictures than this make every item file heavy and overflow the 16 MiB an ID3v2.4
/// frame may hold; real covers are well under it.
pub const MAX_COVER_BYTES: u64 = 8 * 1024 * 1024;

/// The kind of picture, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverKind {
    Jpeg,
    Png,
}

impl CoverKind {
    /// The MIME type tags store.
    pub fn mime(self) -> &'static str {
        match self {
            CoverKind::Jpeg => "image/jpeg",
            CoverKind::Png => "image/png",
        }
    }

    /// The file extension ffmpeg guesses the codec from.
    pub fn extension(self) -> &'static str {
        match self {
            CoverKind::Jpeg => "jpg",
            CoverKind::Png => "png",
        }
    }

    fn name(self) -> &'static str {
        match self {
            CoverKind::Jpeg => "JPEG",
            CoverKind::Png => "PNG",
        }
    }
}

/// A checked cover picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    pub bytes: Vec<u8>,
    pub kind: CoverKind,
    pub width: u32,
    pub height: u32,
}

impl Cover {
    /// Reads and checks the picture at `path`.
    pub fn load(path: &Path) -> Result<Cover, CoverError> {
        let read = |source| CoverError::Read {
            path: path.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_COVER_BYTES {
            return Err(CoverError::TooLarge {
                path: path.to_path_buf(),
                bytes: len,
            });
        }
        let bytes = std::fs::read(path).map_err(read)?;
        Cover::from_bytes(bytes).map_err(|e| e.at(path))
    }

    /// Checks picture bytes (an EPUB's cover, say); errors name no file until [`Cover::load`]
    /// or the caller adds one with [`CoverError::at`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Cover, CoverError> {
        let kind = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            CoverKind::Jpeg
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            CoverKind::Png
        } else {
            return Err(CoverError::NotAnImage {
                path: PathBuf::new(),
            });
        };
        let damaged = |why: String| CoverError::Damaged {
            path: PathBuf::new(),
            kind: kind.name(),
            why,
        };
        // The size is read from the headers (JPEG SOF, PNG IHDR): cheap, and enough to tell a
        // picture from a truncated or renamed file.
        let size = imagesize::blob_size(&bytes).map_err(|e| damaged(e.to_string()))?;
        let (Ok(width), Ok(height)) = (u32::try_from(size.width), u32::try_from(size.height))
        else {
            return Err(damaged("size out of range".into()));
        };
        if width == 0 || height == 0 {
            return Err(damaged(format!("{width}x{height} pixels")));
        }
        if kind == CoverKind::Jpeg && !bytes.ends_with(&[0xFF, 0xD9]) {
            // A JPEG ends with its EOI marker; one cut short by a failed copy has none.
            return Err(damaged("truncated: no end marker".into()));
        }
        if kind == CoverKind::Png && !png_has_end(&bytes) {
            return Err(damaged("truncated: no IEND chunk".into()));
        }
        Ok(Cover {
            bytes,
            kind,
            width,
            height,
        })
    }
}

/// A PNG ends with a zero-length IEND chunk and its CRC.
fn png_has_end(bytes: &[u8]) -> bool {
    bytes.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82])
}

impl CoverError {
    /// The same error, naming `path`.
    pub fn at(self, path: &Path) -> CoverError {
        let path = path.to_path_buf();
        match self {
            CoverError::Read { source, .. } => CoverError::Read { path, source },
            CoverError::NotAnImage { .. } => CoverError::NotAnImage { path },
            CoverError::Damaged { kind, why, .. } => CoverError::Damaged { path, kind, why },
            CoverError::TooLarge { bytes, .. } => CoverError::TooLarge { path, bytes },
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 4x6 PNG made by ffmpeg (`-f lavfi -i color=red:s=4x6 -pix_fmt rgb24 -frames 1 x.png`).
    pub fn png() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cover.png")).unwrap()
    }

    /// A 16x8 JPEG made by ffmpeg.
    pub fn jpeg() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/cover.jpg")).unwrap()
    }

    #[test]
    fn reads_png_and_jpeg_sizes() {
        let p = Cover::from_bytes(png()).unwrap();
        assert_eq!((p.kind, p.width, p.height), (CoverKind::Png, 4, 6));
        let j = Cover::from_bytes(jpeg()).unwrap();
        assert_eq!((j.kind, j.width, j.height), (CoverKind::Jpeg, 16, 8));
    }

    #[test]
    fn refuses_other_files_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cover.jpg");
        std::fs::write(&path, b"GIF89a....").unwrap();
        let e = Cover::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("cover.jpg") && e.contains("not a JPEG or PNG"),
            "{e}"
        );

        let mut cut = jpeg();
        cut.truncate(cut.len() / 2);
        std::fs::write(&path, &cut).unwrap();
        let e = Cover::load(&path).unwrap_err().to_string();
        assert!(e.contains("cover.jpg") && e.contains("damaged JPEG"), "{e}");

        let mut cut = png();
        cut.truncate(20);
        std::fs::write(&path, &cut).unwrap();
        let e = Cover::load(&path).unwrap_err().to_string();
        assert!(e.contains("damaged PNG"), "{e}");

        let e = Cover::load(&dir.path().join("none.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none.png"), "{e}");
    }
}
