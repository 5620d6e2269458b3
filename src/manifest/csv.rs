//! CSV manifests: a header row, one item per row; per-row settings override the defaults.

use std::path::{Component, Path};

use super::normalize;
use super::{Item, MAX_NAME_BYTES, ManifestOptions, Overrides, padded, sanitize};
use crate::domain::AudioFormat;
use crate::domain::check_speed;

/// A CSV manifest that cannot be read; the message names the line at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CsvError(String);

impl From<String> for CsvError {
    fn from(message: String) -> Self {
        CsvError(message)
    }
}

/// The rows of a CSV manifest as items, one at a time; an error names the line at fault.
/// Duplicate keys and shared outputs are the manifest's check (see `Manifest::check`). Rows
/// with nothing to say are skipped, with a warning if `warn` (the check pass warns; the
/// passes after it are quiet, so each warning shows once).
pub(crate) fn rows<'a>(
    text: &'a str,
    opts: &'a ManifestOptions,
    warn: bool,
) -> Result<Rows<'a>, CsvError> {
    let reader = |text: &'a str| {
        csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(text.as_bytes())
    };
    // The csv crate reads an unclosed quote to the end of the file as one cell: every row after
    // it would silently become part of one item.
    if let Some(line) = unclosed_quote(text) {
        return Err(CsvError(format!(
            "line {line}: a quote opened here is never closed (every row after it would be read as one cell)"
        )));
    }
    let mut records = reader(text);
    let headers = records
        .headers()
        .map_err(|e| csv_error(&e))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect::<Vec<_>>();
    if headers.iter().all(String::is_empty) {
        return Err(CsvError("line 1: no header row".into()));
    }
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(text_col) = column(&opts.text_column) else {
        return Err(CsvError(format!(
            "line 1: no `{}` column (the columns are: {}; use --text-column NAME)",
            opts.text_column,
            headers.join(", ")
        )));
    };
    // Keys from row numbers are padded to the width of the row count, so count the rows first
    // (a pass over bytes that builds nothing).
    let mut counter = reader(text);
    let mut record = csv::ByteRecord::new();
    let mut total = 0;
    while counter.read_byte_record(&mut record).unwrap_or(false) {
        total += 1;
    }
    Ok(Rows {
        records,
        record: csv::StringRecord::new(),
        opts,
        text_col,
        id_col: column(&opts.id_column),
        cols: RowColumns {
            voice: column("voice"),
            model: column("model"),
            speed: column("speed"),
            instructions: column("instructions"),
            audio_format: column("audio_format"),
            output: column("output"),
        },
        total,
        row: 0,
        failed: false,
        warn,
    })
}

/// The rows of a CSV manifest; see [`rows`].
pub(crate) struct Rows<'a> {
    records: csv::Reader<&'a [u8]>,
    record: csv::StringRecord,
    opts: &'a ManifestOptions,
    text_col: usize,
    id_col: Option<usize>,
    cols: RowColumns,
    total: usize,
    row: usize,
    /// After an error the reader's position is unreliable: stop.
    failed: bool,
    warn: bool,
}

impl Iterator for Rows<'_> {
    type Item = Result<Item, CsvError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            match self.records.read_record(&mut self.record) {
                Ok(false) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(csv_error(&e)));
                }
                Ok(true) => {}
            }
            self.row += 1;
            let result = self.item();
            if let Err(e) = &result {
                self.failed = true;
                return Some(Err(e.clone()));
            }
            if let Ok(Some(item)) = result {
                return Some(Ok(item));
            }
        }
        None
    }
}

impl Rows<'_> {
    /// The current record as an item; None for a row with nothing to say.
    fn item(&self) -> Result<Option<Item>, CsvError> {
        let record = &self.record;
        let line = record.position().map_or(self.row as u64 + 1, |p| p.line());
        let cell = |i: Option<usize>| {
            i.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let spoken = normalize(record.get(self.text_col).unwrap_or(""));
        if spoken.is_empty() {
            if !self.warn {
                return Ok(None);
            }
            tracing::warn!(
                "line {line}: the `{}` cell is empty; the row is skipped",
                self.opts.text_column
            );
            return Ok(None);
        }
        let key = match self.id_col {
            Some(_) => cell(self.id_col)
                .ok_or_else(|| format!("line {line}: the `{}` cell is empty", self.opts.id_column))?
                .to_string(),
            None => padded(self.row, self.total),
        };
        let overrides = self.cols.overrides(&cell, line)?;
        let (output, has_extension) = match cell(self.cols.output) {
            Some(out) => (
                checked_output(out, line)?,
                Path::new(out).extension().is_some(),
            ),
            None => (sanitize(&key), false),
        };
        Ok(Some(Item {
            key,
            title: None,
            text: spoken,
            overrides,
            output,
            has_extension,
            line,
            replacements: 0,
        }))
    }
}

/// Which optional columns the header has.
struct RowColumns {
    voice: Option<usize>,
    model: Option<usize>,
    speed: Option<usize>,
    instructions: Option<usize>,
    audio_format: Option<usize>,
    output: Option<usize>,
}

impl RowColumns {
    fn overrides<'a>(
        &self,
        cell: &dyn Fn(Option<usize>) -> Option<&'a str>,
        line: u64,
    ) -> Result<Overrides, CsvError> {
        let speed = match cell(self.speed) {
            Some(s) => {
                let v: f64 = s
                    .parse()
                    .map_err(|_| format!("line {line}: speed `{s}` is not a number"))?;
                check_speed(v).map_err(|e| format!("line {line}: speed {e}"))?;
                Some(v)
            }
            None => None,
        };
        let audio_format = match cell(self.audio_format) {
            Some(f) => Some(
                f.parse::<AudioFormat>()
                    .map_err(|e| format!("line {line}: {e}"))?,
            ),
            None => None,
        };
        Ok(Overrides {
            voice: cell(self.voice).map(str::to_string),
            model: cell(self.model).map(str::to_string),
            speed,
            instructions: cell(self.instructions).map(str::to_string),
            audio_format,
        })
    }
}

/// An `output` cell must stay inside `--out`: relative, no `..`, no empty or hidden tricks.
fn checked_output(out: &str, line: u64) -> Result<String, CsvError> {
    let path = Path::new(out);
    let refuse = |why: &str| Err(CsvError(format!("line {line}: output `{out}` {why}")));
    if path.is_absolute() || out.starts_with('/') || out.starts_with('\\') {
        return refuse("is absolute; it must be a path inside --out");
    }
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(p) => match p.to_str() {
                Some(p) if p.starts_with('.') => return refuse("has a hidden or dot-named part"),
                Some(p) if p.len() > MAX_NAME_BYTES => {
                    return refuse(&format!(
                        "has a file name too long for the file system ({} bytes; at most {MAX_NAME_BYTES})",
                        p.len()
                    ));
                }
                Some(p) => parts.push(p.to_string()),
                None => return refuse("is not valid text"),
            },
            Component::CurDir => {}
            Component::ParentDir => return refuse("leaves --out (`..` is not allowed)"),
            Component::RootDir | Component::Prefix(_) => {
                return refuse("is absolute; it must be a path inside --out");
            }
        }
    }
    if parts.is_empty() || out.ends_with('/') {
        return refuse("names no file");
    }
    let joined = parts.join("/");
    let lower = joined.to_lowercase();
    if lower == "report.json" || lower == "report.csv" || lower.starts_with("tts-batch.") {
        return refuse("would overwrite the report or the queue");
    }
    Ok(joined)
}

/// The line where a quoted field opens that is never closed, read as the csv crate reads: a
/// quote opens a field only as its first character, and `""` inside one is a quote.
fn unclosed_quote(text: &str) -> Option<u64> {
    let mut line = 1u64;
    let mut field_start = true;
    let mut open: Option<u64> = None;
    let mut bytes = text.bytes().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\n' {
            line = line.saturating_add(1);
        }
        match open {
            Some(_) if b == b'"' => {
                if bytes.peek() == Some(&b'"') {
                    bytes.next();
                } else {
                    open = None;
                    field_start = false;
                }
            }
            Some(_) => {}
            None => match b {
                b'"' if field_start => open = Some(line),
                b',' | b'\n' | b'\r' => field_start = true,
                _ => field_start = false,
            },
        }
    }
    open
}

fn csv_error(e: &csv::Error) -> CsvError {
    CsvError(match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("line {line}: malformed CSV: {len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { pos, .. } => {
            let line = pos.as_ref().map_or(0, |p| p.line());
            format!("line {line}: not valid UTF-8 text")
        }
        _ => match e.position() {
            Some(p) => format!("line {}: malformed CSV: {e}", p.line()),
            None => format!("malformed CSV: {e}"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::InputFormat;

    /// Reads `text` as a CSV manifest file, checked whole, as a run would.
    fn items(
        text: &str,
        opts: &ManifestOptions,
    ) -> Result<Vec<Item>, crate::manifest::ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.csv");
        std::fs::write(&path, text).unwrap();
        crate::manifest::load(&path, opts)
    }

    fn opts() -> ManifestOptions {
        ManifestOptions {
            format: InputFormat::Csv,
            text_column: "text".into(),
            id_column: "id".into(),
            chapter_level: None,
            read_code: false,
            keep_front_matter: false,
            lexicon: None,
        }
    }

    #[test]
    fn rows_become_items_with_overrides() {
        let csv = "id,text,voice,speed,audio_format,output\nq1,\"Hello, world.\",nova,1.5,wav,greetings/hello\nq2,Bye.,,,,\n";
        let items = items(csv, &opts()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].key, "q1");
        assert_eq!(items[0].text, "Hello, world.");
        assert_eq!(items[0].overrides.voice.as_deref(), Some("nova"));
        assert_eq!(items[0].overrides.speed, Some(1.5));
        assert_eq!(items[0].overrides.audio_format, Some(AudioFormat::Wav));
        assert_eq!(items[0].output, "greetings/hello");
        assert_eq!(items[1].overrides, Overrides::default());
        assert_eq!(items[1].output, "q2");
    }

    #[test]
    fn keys_fall_back_to_row_numbers() {
        let items = items("text\na\nb\n", &opts()).unwrap();
        assert_eq!(items[0].key, "0001");
        assert_eq!(items[1].key, "0002");
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("id,body\n1,x\n", "line 1: no `text` column"),
            (
                "id,text\n1,x\n1,y\n",
                "line 3: duplicate key `1` (first on line 2)",
            ),
            ("id,text\n1,x\n2,y,z\n", "line 3: malformed CSV"),
            ("id,text,speed\n1,x,fast\n", "line 2: speed `fast`"),
            ("id,text,speed\n1,x,9\n", "line 2: speed 9 is out of range"),
            (
                "id,text,audio_format\n1,x,ogg\n",
                "line 2: unknown audio format `ogg`",
            ),
            (
                "id,text,output\n1,x,../escape\n",
                "line 2: output `../escape` leaves --out",
            ),
            (
                "id,text,output\n1,x,/etc/passwd\n",
                "line 2: output `/etc/passwd` is absolute",
            ),
            ("id,text\n,x\n", "line 2: the `id` cell is empty"),
        ];
        for (csv, want) in cases {
            let err = items(csv, &opts()).unwrap_err().message;
            assert!(err.starts_with(want), "{csv:?}: {err}");
        }
    }

    #[test]
    fn the_shared_corpus_reads() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/quotes.csv");
        let text = std::fs::read_to_string(path).unwrap();
        let items = items(&text, &opts()).unwrap();
        assert_eq!(items.len(), 200);
        assert_eq!(items[0].key, "WQbJJwEFP1l9");
        assert!(items[0].text.contains("invincible summer"));
        assert_eq!(items[1].overrides.voice.as_deref(), Some("echo"));
    }

    #[test]
    fn a_quote_never_closed_is_found_at_its_line() {
        assert_eq!(unclosed_quote("id,text\n1,\"open\n2,x\n"), Some(2));
        assert_eq!(
            unclosed_quote("id,text\r\n1,\"a\r\nb\"\r\n2,\"c\n"),
            Some(4)
        );
        assert_eq!(
            unclosed_quote("id,text\n1,\"a \"\"q\"\" b\"\n2,plain \"x\n"),
            None
        );
        assert_eq!(unclosed_quote("id,text\n1,\"two\nlines\"\n"), None);
    }
}
