//! Tags on item files and the book file: title, album, artist and album artist (author),
//! composer (narrator), track n/N, genre, description, series, publisher, date, language, ISBN
//! and cover, written into a temporary file before it gets its final name (never in place on a
//! final file), in the container's own kind of tag:
//!
//! | format | tag |
//! | --- | --- |
//! | mp3 | ID3v2.4 at the start (`id3`) |
//! | aac (ADTS) | ID3v2.4 at the start: ADTS has no tag of its own, and ffmpeg, VLC, Apple and Android players skip a leading ID3v2 tag in raw AAC as they do in MP3 |
//! | wav | ID3v2.4 in an `id3 ` chunk after the data (read by ffmpeg and most players; LIST/INFO cannot hold a cover or a composer) |
//! | flac, opus | Vorbis comments, cover as a picture block (FLAC) or METADATA_BLOCK_PICTURE (Opus) (`lofty`) |
//! | m4b | MP4 `ilst` atoms (`lofty`), the series as iTunes freeform atoms |
//! | pcm | none: raw samples have nowhere to put a tag |
//!
//! Each field goes where Audiobookshelf's scanner finds it through ffprobe (its `prober.js`):
//!
//! | field | ID3v2.4 | Vorbis | MP4 | ffprobe key |
//! | --- | --- | --- | --- | --- |
//! | book title | TALB | ALBUM | ©alb | album |
//! | author | TPE1, TPE2 | ARTIST, ALBUMARTIST | ©ART, aART | artist, album_artist |
//! | narrator | TCOM | COMPOSER | ©wrt | composer |
//! | description | COMM | DESCRIPTION, COMMENT | desc, ©cmt | description / comment |
//! | series | TXXX:series, TIT1 `Name #N` | SERIES, SERIES-PART, GROUPING | ----:series, ----:series-part, ©grp | series, series-part, grouping |
//! | publisher | TPUB | PUBLISHER | ----:publisher | publisher |
//! | year | TDRC | DATE | ©day | date |
//! | language | TLAN | LANGUAGE | ----:language | language |
//! | ISBN | TXXX:isbn | ISBN | ----:isbn | isbn |

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use id3::TagLike;
use lofty::config::WriteOptions;
use lofty::mp4::{Atom, AtomData, AtomIdent, DataType, Ilst};
use lofty::ogg::OggPictureStorage;
use lofty::ogg::tag::VorbisComments;
use lofty::picture::{MimeType, Picture, PictureType};
use lofty::prelude::TagExt;

use sha2::{Digest, Sha256};

use super::cover::{Cover, CoverKind};
use super::meta::{BookMeta, GENRE, TrackTags};
use crate::domain::AudioFormat;

/// A tag could not be written: the file is ours (a temporary file we just wrote), so this is a
/// failure of the item (damaged audio the tag writer cannot parse) or of the disk.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error("tagging {}: {source}", path.display())]
    Id3 { path: PathBuf, source: id3::Error },
    #[error("tagging {}: {source}", path.display())]
    Lofty {
        path: PathBuf,
        source: lofty::error::FileEncodingError,
    },
    #[error("tagging {}: {source}", path.display())]
    Mp4 { path: PathBuf, source: io::Error },
}

/// What every item file's tags share in a run: the book and its number of items.
#[derive(Debug, Clone)]
pub struct RunTags {
    pub book: Arc<BookMeta>,
    /// Items in the manifest: the N of track n/N.
    pub total: u32,
}

impl RunTags {
    /// What the tag settings of an item file are: the book's fields and the kind of tag. The
    /// item's own title and place (track n/N) are not in it: they change with the manifest,
    /// not the settings, and an edit rewrites only the files it touches (SPEC §8); they are
    /// written whenever the file is built or retagged.
    pub fn fingerprint(&self, format: AudioFormat) -> String {
        let mut h = Sha256::new();
        for field in [
            "item tags v1",
            format.extension(),
            &book_fingerprint(&self.book),
        ] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }

    /// Writes the tags of the item at manifest position `seq` (from 0), titled `title` (its key
    /// when it has none), into its temporary file at `path`.
    pub fn write(
        &self,
        format: AudioFormat,
        path: &Path,
        title: &str,
        seq: i64,
    ) -> Result<(), TagError> {
        let track = u32::try_from(seq.saturating_add(1)).unwrap_or(u32::MAX);
        let tags = TrackTags {
            book: &self.book,
            title,
            track,
            total: self.total.max(track),
        };
        write(format, path, &tags)
    }
}

/// What the book's fields are: if this is unchanged, so is every tag that describes the book.
pub fn book_fingerprint(book: &BookMeta) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    field(b"book tags v1");
    field(book.title.as_bytes());
    for value in [
        text(&book.author),
        text(&book.narrator),
        text(&book.description),
        book.series
            .as_ref()
            .map_or(String::new(), |s| s.name.clone()),
        book.series
            .as_ref()
            .and_then(|s| s.index.clone())
            .unwrap_or_default(),
        text(&book.publisher),
        text(&book.date),
        text(&book.language),
        text(&book.identifier),
        text(&book.isbn),
    ] {
        field(value.as_bytes());
    }
    field(book.cover.as_ref().map_or(&[][..], |c| &c.bytes));
    hex::encode(h.finalize())
}

/// The title an item's file is tagged with: its own, else its key.
pub fn item_title<'a>(title: Option<&'a str>, key: &'a str) -> &'a str {
    title.filter(|t| !t.trim().is_empty()).unwrap_or(key)
}

/// Writes `tags` into the audio file at `path` (a temporary file). PCM gets nothing.
pub fn write(format: AudioFormat, path: &Path, tags: &TrackTags<'_>) -> Result<(), TagError> {
    match format {
        AudioFormat::Mp3 | AudioFormat::Aac | AudioFormat::Wav => id3_tag(tags)
            .write_to_path(path, id3::Version::Id3v24)
            .map_err(|source| TagError::Id3 {
                path: path.to_path_buf(),
                source,
            }),
        AudioFormat::Flac | AudioFormat::Opus => vorbis_tag(tags)
            .save_to_path(path, WriteOptions::default())
            .map_err(|source| TagError::Lofty {
                path: path.to_path_buf(),
                source,
            }),
        AudioFormat::Pcm => Ok(()),
    }
}

/// The ID3v2.4 frames of an item file (the book file adds its chapters to the same frames).
pub fn id3_tag(tags: &TrackTags<'_>) -> id3::Tag {
    let mut tag = id3_book_tag(tags.book);
    tag.set_title(tags.title);
    tag.set_track(tags.track);
    tag.set_total_tracks(tags.total);
    tag
}

/// The ID3v2.4 frames that describe the book: album, artists, genre, description, series,
/// publisher, year, language, ISBN, cover.
pub fn id3_book_tag(book: &BookMeta) -> id3::Tag {
    let mut tag = id3::Tag::new();
    tag.set_album(&book.title);
    if let Some(author) = &book.author {
        tag.set_artist(author);
        tag.set_album_artist(author);
    }
    if let Some(narrator) = &book.narrator {
        tag.set_text("TCOM", narrator);
    }
    tag.set_genre(GENRE);
    let extended = |tag: &mut id3::Tag, description: &str, value: &str| {
        tag.add_frame(id3::frame::ExtendedText {
            description: description.to_owned(),
            value: value.to_owned(),
        });
    };
    if let Some(description) = &book.description {
        tag.add_frame(id3::frame::Comment {
            lang: "eng".to_owned(),
            description: String::new(),
            text: description.clone(),
        });
    }
    if let Some(series) = &book.series {
        tag.set_text("TIT1", series.grouping());
        extended(&mut tag, "series", &series.name);
        if let Some(index) = &series.index {
            extended(&mut tag, "series-part", index);
        }
    }
    if let Some(publisher) = &book.publisher {
        tag.set_text("TPUB", publisher);
    }
    if let Some(year) = book.year() {
        tag.set_text("TDRC", year);
    }
    if let Some(language) = &book.language {
        tag.set_text("TLAN", language);
    }
    if let Some(isbn) = &book.isbn {
        extended(&mut tag, "isbn", isbn);
    }
    if let Some(cover) = &book.cover {
        tag.add_frame(id3::frame::Picture {
            mime_type: cover.kind.mime().to_owned(),
            picture_type: id3::frame::PictureType::CoverFront,
            description: String::new(),
            data: cover.bytes.clone(),
        });
    }
    tag
}

fn vorbis_tag(tags: &TrackTags<'_>) -> VorbisComments {
    let book = tags.book;
    let mut tag = VorbisComments::new();
    let mut put = |key: &str, value: &str| tag.push(key.to_owned(), value.to_owned());
    put("TITLE", tags.title);
    put("ALBUM", &book.title);
    if let Some(author) = &book.author {
        put("ARTIST", author);
        put("ALBUMARTIST", author);
    }
    if let Some(narrator) = &book.narrator {
        put("COMPOSER", narrator);
    }
    put("TRACKNUMBER", &tags.track.to_string());
    put("TRACKTOTAL", &tags.total.to_string());
    put("GENRE", GENRE);
    if let Some(description) = &book.description {
        put("DESCRIPTION", description);
        put("COMMENT", description);
    }
    if let Some(series) = &book.series {
        put("SERIES", &series.name);
        if let Some(index) = &series.index {
            put("SERIES-PART", index);
        }
        put("GROUPING", &series.grouping());
    }
    if let Some(publisher) = &book.publisher {
        put("PUBLISHER", publisher);
    }
    if let Some(year) = book.year() {
        put("DATE", year);
    }
    if let Some(language) = &book.language {
        put("LANGUAGE", language);
    }
    if let Some(isbn) = &book.isbn {
        put("ISBN", isbn);
    }
    if let Some(cover) = &book.cover {
        // A picture lofty cannot describe (it checked the bytes already) is left out.
        let _ = tag.insert_picture(lofty_picture(cover), None);
    }
    tag
}

/// The MP4 `ilst` of the book file: the book's fields, titled by the book, marked as an
/// audiobook (`stik` 2), with the series as iTunes freeform atoms that ffprobe reports by name.
fn mp4_tag(book: &BookMeta) -> Ilst {
    let mut ilst = Ilst::new();
    let mut text = |ident: &[u8; 4], value: &str| {
        ilst.insert(Atom::new(
            AtomIdent::Fourcc(*ident),
            AtomData::UTF8(value.to_owned()),
        ));
    };
    text(b"\xa9nam", &book.title);
    text(b"\xa9alb", &book.title);
    if let Some(author) = &book.author {
        text(b"\xa9ART", author);
        text(b"aART", author);
    }
    if let Some(narrator) = &book.narrator {
        text(b"\xa9wrt", narrator);
    }
    text(b"\xa9gen", GENRE);
    if let Some(description) = &book.description {
        text(b"desc", description);
        text(b"\xa9cmt", description);
    }
    if let Some(series) = &book.series {
        text(b"\xa9grp", &series.grouping());
    }
    if let Some(year) = book.year() {
        text(b"\xa9day", year);
    }
    let mut freeform = |name: &str, value: &str| {
        ilst.insert(Atom::new(
            AtomIdent::Freeform {
                mean: "com.apple.iTunes".into(),
                name: name.to_owned().into(),
            },
            AtomData::UTF8(value.to_owned()),
        ));
    };
    if let Some(series) = &book.series {
        freeform("series", &series.name);
        if let Some(index) = &series.index {
            freeform("series-part", index);
        }
    }
    if let Some(publisher) = &book.publisher {
        freeform("publisher", publisher);
    }
    if let Some(language) = &book.language {
        freeform("language", language);
    }
    if let Some(isbn) = &book.isbn {
        freeform("isbn", isbn);
    }
    // One byte, as iTunes writes it and ffmpeg reads it (lofty writes `SignedInteger` as four).
    ilst.insert(Atom::new(
        AtomIdent::Fourcc(*b"stik"),
        AtomData::Unknown {
            code: DataType::BeSignedInteger,
            data: vec![2],
        },
    ));
    if let Some(cover) = &book.cover {
        ilst.insert_picture(lofty_picture(cover));
    }
    ilst
}

/// Writes the book's tags into the MP3 book at `path` (a temporary copy of it) in place of
/// its old ones, keeping its chapter frames (CHAP) and retitling its table of contents (CTOC).
pub fn retag_mp3_book(path: &Path, book: &BookMeta) -> Result<(), TagError> {
    let id3_err = |source| TagError::Id3 {
        path: path.to_path_buf(),
        source,
    };
    let old = id3::Tag::read_from_path(path).map_err(id3_err)?;
    let mut tag = id3_book_tag(book);
    tag.add_frame(id3::Frame::text("TIT2", book.title.clone()));
    for frame in old.frames() {
        match frame.content() {
            id3::Content::Chapter(_) => {
                tag.add_frame(frame.clone());
            }
            id3::Content::TableOfContents(toc) => {
                let mut toc = toc.clone();
                toc.frames = vec![id3::Frame::text("TIT2", book.title.clone())];
                tag.add_frame(id3::Frame::with_content(
                    "CTOC",
                    id3::Content::TableOfContents(toc),
                ));
            }
            _ => {}
        }
    }
    tag.write_to_path(path, id3::Version::Id3v24)
        .map_err(id3_err)
}

/// Writes the book's tags into the MP4 file at `path` (a temporary file), in place of any
/// it has; the audio and the chapters are left as they are. `lofty` builds the `ilst`;
/// `mp4meta` puts it in without reading the audio into memory (lofty's own save would).
pub fn write_mp4(path: &Path, book: &BookMeta) -> Result<(), TagError> {
    let mut ilst = Vec::new();
    mp4_tag(book)
        .dump_to(&mut ilst, WriteOptions::default())
        .map_err(|source| TagError::Mp4 {
            path: path.to_path_buf(),
            source: io::Error::other(source),
        })?;
    super::mp4meta::replace_ilst(path, &ilst).map_err(|source| TagError::Mp4 {
        path: path.to_path_buf(),
        source,
    })
}

fn lofty_picture(cover: &Cover) -> Picture {
    let mime = match cover.kind {
        CoverKind::Jpeg => MimeType::Jpeg,
        CoverKind::Png => MimeType::Png,
    };
    Picture::unchecked(cover.bytes.clone())
        .pic_type(PictureType::CoverFront)
        .mime_type(mime)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::meta::BookMeta;
    use crate::book::probe;

    fn book() -> BookMeta {
        crate::book::meta::tests::full_book()
    }

    #[test]
    fn every_tagged_format_reads_back_with_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        let book = book();
        for (format, name) in [
            (AudioFormat::Mp3, "mp3"),
            (AudioFormat::Aac, "aac"),
            (AudioFormat::Wav, "wav"),
            (AudioFormat::Flac, "flac"),
            (AudioFormat::Opus, "opus"),
        ] {
            let (bytes, seconds) = crate::audio::synth::audio(name, 1500);
            let path = dir.path().join(format!("03-the-pool.{name}"));
            std::fs::write(&path, bytes).unwrap();
            let tags = TrackTags {
                book: &book,
                title: "The Pool of Tears",
                track: 3,
                total: 12,
            };
            write(format, &path, &tags).unwrap();
            let info = probe::probe(&path);
            let t = &info.tags;
            assert_eq!(
                t.get("title").map(String::as_str),
                Some("The Pool of Tears"),
                "{name} {t:?}"
            );
            assert_eq!(
                t.get("album").map(String::as_str),
                Some(book.title.as_str()),
                "{name}"
            );
            assert_eq!(
                t.get("artist").map(String::as_str),
                Some("Lewis Carroll"),
                "{name}"
            );
            crate::book::meta::tests::assert_full_tags(t, name);
            assert_eq!(
                t.get("genre").map(String::as_str),
                Some("Audiobook"),
                "{name}"
            );
            let track = t.get("track").cloned().unwrap_or_default();
            assert!(track == "3/12" || track == "3", "{name}: track {track}");
            if name != "wav" {
                assert!(info.has_cover, "{name}: no cover");
            }
            // The audio is untouched: same decoded length.
            let decoded = probe::decoded_seconds(&path);
            assert!(
                (decoded - seconds).abs() < 0.05 + 1105.0 / 24000.0,
                "{name}: {decoded} vs {seconds}"
            );
        }
    }

    #[test]
    fn pcm_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.pcm");
        std::fs::write(&path, [0u8; 480]).unwrap();
        let b = book();
        write(
            AudioFormat::Pcm,
            &path,
            &TrackTags {
                book: &b,
                title: "x",
                track: 1,
                total: 1,
            },
        )
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0u8; 480]);
    }
}
