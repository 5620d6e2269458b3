//! Tags on item files: title, album, artist, composer (narrator), track n/N, genre and cover,
//! written into the temporary file before it gets its final name (never in place on a final
//! file), in the container's own kind of tag:
//!
//! | format | tag |
//! | --- | --- |
//! | mp3 | ID3v2.4 at the start (`id3`) |
//! | aac (ADTS) | ID3v2.4 at the start: ADTS has no tag of its own, and ffmpeg, VLC, Apple and Android players skip a leading ID3v2 tag in raw AAC as they do in MP3 |
//! | wav | ID3v2.4 in an `id3 ` chunk after the data (read by ffmpeg and most players; LIST/INFO cannot hold a cover or a composer) |
//! | flac, opus | Vorbis comments, cover as METADATA_BLOCK_PICTURE (`lofty`) |
//! | pcm | none: raw samples have nowhere to put a tag |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use id3::TagLike;
use lofty::config::WriteOptions;
use lofty::picture::{MimeType, Picture, PictureType};
use lofty::prelude::{Accessor, ItemKey, TagExt};
use lofty::tag::{Tag, TagType};

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
    Vorbis {
        path: PathBuf,
        source: lofty::error::FileEncodingError,
    },
}

/// What every item file's tags share in a run: the book and its number of items.
#[derive(Debug, Clone)]
pub struct RunTags {
    pub book: Arc<BookMeta>,
    /// Items in the manifest: the N of track n/N.
    pub total: u32,
}

impl RunTags {
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
            .map_err(|source| TagError::Vorbis {
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

/// The ID3v2.4 frames that describe the book: album, artists, genre, cover.
pub fn id3_book_tag(book: &super::meta::BookMeta) -> id3::Tag {
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

fn vorbis_tag(tags: &TrackTags<'_>) -> Tag {
    let book = tags.book;
    let mut tag = Tag::new(TagType::VorbisComments);
    tag.set_title(tags.title.to_owned());
    tag.set_album(book.title.clone());
    if let Some(author) = &book.author {
        tag.set_artist(author.clone());
        tag.insert_text(ItemKey::AlbumArtist, author.clone());
    }
    if let Some(narrator) = &book.narrator {
        tag.insert_text(ItemKey::Composer, narrator.clone());
    }
    tag.set_track(tags.track);
    tag.set_track_total(tags.total);
    tag.set_genre(GENRE.to_owned());
    if let Some(cover) = &book.cover {
        tag.push_picture(lofty_picture(cover));
    }
    tag
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
    use std::sync::Arc;

    use super::*;
    use crate::book::meta::BookMeta;
    use crate::book::probe;

    fn book() -> BookMeta {
        BookMeta {
            title: "Alice’s Adventures in Wonderland".into(),
            author: Some("Lewis Carroll".into()),
            narrator: Some("Alloy".into()),
            cover: Some(Arc::new(
                Cover::from_bytes(crate::book::cover::tests::jpeg()).unwrap(),
            )),
        }
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
            assert_eq!(
                t.get("composer").map(String::as_str),
                Some("Alloy"),
                "{name}"
            );
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
