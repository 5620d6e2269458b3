//! `playlist.m3u8`: the item files (not the book file) in order, each with its length and
//! title, names relative to the playlist so the folder can move.

use std::io::{self, Write};

/// One line of the playlist.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Relative to `--out`, with `/` separators.
    pub file: &'a str,
    pub title: &'a str,
    pub seconds: f64,
}

/// Writes the playlist. `#EXTINF` takes whole seconds (rounded) for the widest player support.
pub fn write<'a>(
    entries: impl IntoIterator<Item = Entry<'a>>,
    out: &mut dyn Write,
) -> io::Result<()> {
    out.write_all(b"#EXTM3U\n")?;
    for e in entries {
        let seconds = if e.seconds.is_finite() && e.seconds > 0.0 {
            e.seconds.round()
        } else {
            0.0
        };
        // A line break in a title would start a new entry.
        let title: String = e
            .title
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        writeln!(out, "#EXTINF:{seconds:.0},{}", title.trim())?;
        writeln!(out, "{}", e.file)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_files_in_order_with_lengths_and_titles() {
        let mut out = Vec::new();
        write(
            [
                Entry {
                    file: "01-down-the-rabbit-hole.mp3",
                    title: "Down the Rabbit-Hole",
                    seconds: 61.4,
                },
                Entry {
                    file: "02-the-pool.mp3",
                    title: "The Pool\nof Tears",
                    seconds: 0.6,
                },
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "#EXTM3U\n#EXTINF:61,Down the Rabbit-Hole\n01-down-the-rabbit-hole.mp3\n#EXTINF:1,The Pool of Tears\n02-the-pool.mp3\n"
        );
    }
}
