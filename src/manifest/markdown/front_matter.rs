//! A Markdown book's YAML front matter: what it says about the book (title, author, narrator,
//! series, description, language, cover, publisher, date). The block is never read aloud
//! (`source::prepare` blanks it); keys this program does not use (a static site's `layout`,
//! say) are ignored, as a site generator ignores ours.

use yaml_rust2::{Yaml, YamlLoader};

use super::source::front_matter_len;

/// What the front matter says. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontMatter {
    pub title: Option<String>,
    /// `author`: one name or a list.
    pub authors: Vec<String>,
    /// `narrator`: one name or a list.
    pub narrators: Vec<String>,
    pub series: Option<String>,
    /// `series_index` (a number, or text such as `2` or `1.5`).
    pub series_index: Option<String>,
    pub description: Option<String>,
    pub language: Option<String>,
    /// `cover`: a picture's path, relative to the Markdown file.
    pub cover: Option<String>,
    pub publisher: Option<String>,
    /// `date` (or `year`), as written.
    pub date: Option<String>,
    /// The 1-based line of the `cover` key, for errors about its file.
    pub cover_line: usize,
}

/// Reads the front matter at the start of `source`, if there is one. A block that is not YAML,
/// or a known key whose value has the wrong shape, is an error naming its line.
pub fn read(source: &str) -> Result<Option<FrontMatter>, String> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let len = front_matter_len(source);
    if len == 0 {
        return Ok(None);
    }
    let block = source.get(..len).unwrap_or_default();
    // The YAML between the fences: the first line (`---`) and the closing fence dropped.
    let body_start = block.find('\n').map_or(block.len(), |n| n + 1);
    let body = block
        .get(body_start..)
        .unwrap_or_default()
        .trim_end_matches(['\n', '\r']);
    let body = body
        .rfind('\n')
        .map_or("", |n| body.get(..n).unwrap_or_default());
    let docs = YamlLoader::load_from_str(body).map_err(|e| {
        // The parser counts lines from 1 within the block; the block starts on line 2.
        format!(
            "line {}: the front matter is not YAML: {}",
            e.marker().line() + 1,
            e.info()
        )
    })?;
    let Some(doc) = docs.into_iter().next() else {
        return Ok(Some(FrontMatter::default()));
    };
    let Yaml::Hash(map) = doc else {
        return Err("line 2: the front matter is not a map of keys and values".into());
    };
    let line_of = |key: &str| {
        body.lines()
            .position(|l| {
                l.strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with(':'))
            })
            .map_or(2, |i| i + 2)
    };
    let mut front = FrontMatter::default();
    for (key, value) in map {
        let Yaml::String(key) = key else {
            continue;
        };
        let text = || {
            scalar(&value).ok_or_else(|| {
                format!(
                    "line {}: front matter `{key}` should be text, not a list or map",
                    line_of(&key)
                )
            })
        };
        let names = || match &value {
            Yaml::Array(list) => list
                .iter()
                .map(|v| {
                    scalar(v).ok_or_else(|| {
                        format!(
                            "line {}: front matter `{key}` should be a name or a list of names",
                            line_of(&key)
                        )
                    })
                })
                .filter(|n| n.as_ref().map_or(true, |n| !n.is_empty()))
                .collect::<Result<Vec<_>, _>>(),
            _ => text().map(|t| if t.is_empty() { vec![] } else { vec![t] }),
        };
        let some = |t: String| Some(t).filter(|t| !t.is_empty());
        match key.as_str() {
            "title" => front.title = some(text()?),
            "author" | "authors" => front.authors = names()?,
            "narrator" | "narrators" => front.narrators = names()?,
            "series" => front.series = some(text()?),
            "series_index" | "series-index" => front.series_index = some(text()?),
            "description" => front.description = some(text()?),
            "language" | "lang" => front.language = some(text()?),
            "cover" => {
                front.cover = some(text()?);
                front.cover_line = line_of(&key);
            }
            "publisher" => front.publisher = some(text()?),
            "date" | "year" => front.date = some(text()?),
            _ => {}
        }
    }
    Ok(Some(front))
}

/// A scalar as text (numbers and dates as written); None for lists and maps. A null is "".
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.trim().to_owned()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        Yaml::Null => Some(String::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_book_keys_and_ignores_others() {
        let source = "---\ntitle: The Book\nauthor: [A. Writer, B. Writer]\nnarrator: Ann Reader\nseries: The Saga\nseries_index: 2\ndescription: |\n  First line.\n\n  Second paragraph.\nlanguage: en-GB\ncover: art/cover.png\nlayout: post\ndate: 1999-01-02\n---\n\n# One\n\nText.\n";
        let f = read(source).unwrap().unwrap();
        assert_eq!(f.title.as_deref(), Some("The Book"));
        assert_eq!(f.authors, ["A. Writer", "B. Writer"]);
        assert_eq!(f.narrators, ["Ann Reader"]);
        assert_eq!(f.series.as_deref(), Some("The Saga"));
        assert_eq!(f.series_index.as_deref(), Some("2"));
        assert_eq!(
            f.description.as_deref(),
            Some("First line.\n\nSecond paragraph.")
        );
        assert_eq!(f.language.as_deref(), Some("en-GB"));
        assert_eq!(f.cover.as_deref(), Some("art/cover.png"));
        assert_eq!(f.cover_line, 12);
        assert_eq!(f.date.as_deref(), Some("1999-01-02"));
    }

    #[test]
    fn no_block_is_none_and_bad_yaml_names_its_line() {
        assert_eq!(read("# Title\n\nText.\n").unwrap(), None);
        let e = read("---\ntitle: ok\nauthor: [unclosed\n---\n\nText.\n").unwrap_err();
        assert!(e.starts_with("line ") && e.contains("not YAML"), "{e}");
        let e = read("---\ntitle: ok\nseries: {a: 1}\n---\n\nText.\n").unwrap_err();
        assert!(e.starts_with("line 3:") && e.contains("`series`"), "{e}");
        let f = read("---\nseries_index: 1.5\n---\n\nText.\n")
            .unwrap()
            .unwrap();
        assert_eq!(f.series_index.as_deref(), Some("1.5"));
    }
}
