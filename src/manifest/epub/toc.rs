//! The book's table of contents: the EPUB 3 nav document (its `toc` and `landmarks` navs) or
//! the EPUB 2 NCX, as a flat list of entries with their nesting depth.

use super::archive::{self, Target};
use super::markup::{self, Event};
use super::package::collapse;

/// One entry of the table of contents.
#[derive(Debug, Clone)]
pub(super) struct TocEntry {
    /// 1 for top-level entries, 2 for entries nested in them, ...
    pub(super) depth: usize,
    pub(super) title: String,
    /// None for a heading without a link.
    pub(super) target: Option<Target>,
}

/// One landmark: what kind of place (`epub:type`), and where.
#[derive(Debug, Clone)]
pub(super) struct Landmark {
    pub(super) kind: String,
    pub(super) target: Target,
}

/// What a navigation document says.
#[derive(Debug, Default)]
pub(super) struct Navigation {
    pub(super) toc: Vec<TocEntry>,
    pub(super) landmarks: Vec<Landmark>,
}

/// Which `<nav>` of a nav document we are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NavKind {
    Toc,
    Landmarks,
    /// Any other nav (`page-list`, untyped).
    Other,
}

/// Reads an EPUB 3 nav document at `path`. The table of contents is the nav typed `toc` (or,
/// in a book that types none, the first nav); links are resolved against `path`.
pub(super) fn read_nav(path: &str, text: &str) -> Navigation {
    let mut reader = NavReader {
        base: archive::directory(path),
        ..NavReader::default()
    };
    markup::events(text, &mut |event| reader.event(event));
    Navigation {
        toc: if reader.typed_toc.is_empty() {
            reader.untyped_toc
        } else {
            reader.typed_toc
        },
        landmarks: reader.landmarks,
    }
}

/// An entry of a nav being read.
#[derive(Debug, Default)]
struct NavEntry {
    depth: usize,
    label: String,
    target: Option<Target>,
    /// The link's `epub:type` (a landmark's kind).
    kind: String,
}

#[derive(Debug, Default)]
struct NavReader<'p> {
    base: &'p str,
    /// Names of the open elements, innermost last.
    open: Vec<String>,
    /// The nav we are in, and the element depth it opened at.
    nav: Option<(NavKind, usize)>,
    /// Whether an untyped nav was seen before the current one (only the first counts).
    seen_untyped: bool,
    first_untyped: bool,
    /// Open lists inside the nav: the depth of an entry.
    lists: usize,
    entry: Option<NavEntry>,
    /// Element depth of the `<a>` or `<span>` whose text is the entry's label.
    label_at: Option<usize>,
    typed_toc: Vec<TocEntry>,
    untyped_toc: Vec<TocEntry>,
    landmarks: Vec<Landmark>,
}

impl NavReader<'_> {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Open(tag) => {
                if tag.name == "nav" && self.nav.is_none() {
                    let kind = if tag.is("toc") {
                        NavKind::Toc
                    } else if tag.is("landmarks") {
                        NavKind::Landmarks
                    } else {
                        NavKind::Other
                    };
                    self.first_untyped = kind == NavKind::Other && !self.seen_untyped;
                    self.seen_untyped |= kind == NavKind::Other;
                    self.nav = Some((kind, self.open.len()));
                } else if self.nav.is_some() {
                    match tag.name.as_str() {
                        "ol" | "ul" => self.lists = self.lists.saturating_add(1),
                        "li" => {
                            self.finish_entry();
                            self.entry = Some(NavEntry {
                                depth: self.lists,
                                ..NavEntry::default()
                            });
                        }
                        "a" | "span" if self.label_at.is_none() => {
                            if let Some(entry) = self.entry.as_mut()
                                && entry.label.is_empty()
                            {
                                self.label_at = Some(self.open.len());
                                if let Some(href) = tag.attribute("href") {
                                    entry.target = archive::resolve(self.base, href).ok().flatten();
                                    entry.kind = tag.types().next().unwrap_or_default().to_owned();
                                }
                            }
                        }
                        _ => {}
                    }
                }
                self.open.push(tag.name);
            }
            Event::Close => {
                let Some(name) = self.open.pop() else {
                    return;
                };
                if self.label_at == Some(self.open.len()) {
                    self.label_at = None;
                }
                let Some((_, at)) = self.nav else {
                    return;
                };
                match name.as_str() {
                    "ol" | "ul" => self.lists = self.lists.saturating_sub(1),
                    "li" => self.finish_entry(),
                    "nav" if at == self.open.len() => {
                        self.finish_entry();
                        self.nav = None;
                    }
                    _ => {}
                }
            }
            Event::Text(text) => {
                if self.label_at.is_some()
                    && let Some(entry) = self.entry.as_mut()
                {
                    entry.label.push_str(&text);
                }
            }
        }
    }

    /// Files the entry being read under the nav it is in.
    fn finish_entry(&mut self) {
        let (Some(entry), Some((kind, _))) = (self.entry.take(), self.nav) else {
            return;
        };
        let toc_entry = || TocEntry {
            depth: entry.depth,
            title: collapse(&entry.label),
            target: entry.target.clone(),
        };
        match kind {
            NavKind::Toc => self.typed_toc.push(toc_entry()),
            NavKind::Other if self.first_untyped => self.untyped_toc.push(toc_entry()),
            NavKind::Other => {}
            NavKind::Landmarks => {
                if let Some(target) = entry.target.clone() {
                    self.landmarks.push(Landmark {
                        kind: entry.kind.clone(),
                        target,
                    });
                }
            }
        }
    }
}

/// Reads an EPUB 2 NCX at `path`: the `navMap`'s nested `navPoint`s.
pub(super) fn read_ncx(path: &str, text: &str) -> Vec<TocEntry> {
    let base = archive::directory(path);
    let mut entries: Vec<TocEntry> = Vec::new();
    // Indexes into `entries` of the open navPoints, innermost last.
    let mut points: Vec<usize> = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut in_map = false;
    // Element depth of the <navLabel> being read, and whether it has given its text yet.
    let mut label_at: Option<usize> = None;

    markup::events(text, &mut |event| match event {
        Event::Open(tag) => {
            match tag.name.as_str() {
                "navmap" => in_map = true,
                "navpoint" if in_map => {
                    points.push(entries.len());
                    entries.push(TocEntry {
                        depth: points.len(),
                        title: String::new(),
                        target: None,
                    });
                }
                "navlabel" => {
                    let unlabelled = points
                        .last()
                        .and_then(|&i| entries.get(i))
                        .is_some_and(|e| e.title.is_empty());
                    if unlabelled {
                        label_at = Some(open.len());
                    }
                }
                "content" => {
                    if let (Some(&i), Some(src)) = (points.last(), tag.attribute("src"))
                        && let Some(entry) = entries.get_mut(i)
                        && entry.target.is_none()
                    {
                        entry.target = archive::resolve(base, src).ok().flatten();
                    }
                }
                _ => {}
            }
            open.push(tag.name);
        }
        Event::Close => {
            let Some(name) = open.pop() else {
                return;
            };
            if label_at == Some(open.len()) {
                label_at = None;
                if let Some(entry) = points.last().and_then(|&i| entries.get_mut(i)) {
                    entry.title = collapse(&entry.title);
                }
            }
            match name.as_str() {
                "navmap" => in_map = false,
                "navpoint" => {
                    points.pop();
                }
                _ => {}
            }
        }
        Event::Text(text) => {
            if label_at.is_some()
                && let Some(entry) = points.last().and_then(|&i| entries.get_mut(i))
            {
                entry.title.push_str(&text);
            }
        }
    });
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nav_toc_is_read_with_depths_and_landmarks() {
        let nav = r#"<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"><body>
          <nav epub:type="toc"><h1>Contents</h1><ol>
            <li><a href="text/part1.xhtml">Part <b>One</b></a><ol>
              <li><a href="text/ch1.xhtml">Chapter 1</a></li>
              <li><a href="text/ch1.xhtml#s2">Chapter&#160;2</a></li>
            </ol></li>
            <li><span>Unlinked</span></li>
          </ol></nav>
          <nav epub:type="landmarks"><ol><li><a epub:type="copyright-page" href="text/c.xhtml">C</a></li></ol></nav>
        </body></html>"#;
        let nav = read_nav("OEBPS/nav.xhtml", nav);
        let got: Vec<(usize, &str, Option<String>)> = nav
            .toc
            .iter()
            .map(|e| {
                (
                    e.depth,
                    e.title.as_str(),
                    e.target
                        .as_ref()
                        .map(|t| format!("{}#{}", t.path, t.fragment.clone().unwrap_or_default())),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "Part One", Some("OEBPS/text/part1.xhtml#".into())),
                (2, "Chapter 1", Some("OEBPS/text/ch1.xhtml#".into())),
                (2, "Chapter 2", Some("OEBPS/text/ch1.xhtml#s2".into())),
                (1, "Unlinked", None),
            ]
        );
        assert_eq!(nav.landmarks.len(), 1);
        assert_eq!(nav.landmarks[0].kind, "copyright-page");
        assert_eq!(nav.landmarks[0].target.path, "OEBPS/text/c.xhtml");
    }

    #[test]
    fn ncx_nav_points_nest() {
        let ncx = r#"<?xml version="1.0"?><ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>
          <navPoint id="a"><navLabel><text>Part I</text></navLabel><content src="p1.html"/>
            <navPoint id="b"><navLabel><text> Chapter
              One </text></navLabel><content src="c1.html#x"/></navPoint>
          </navPoint>
          <navPoint id="c"><navLabel><text>Index</text></navLabel><content src="index.html"/></navPoint>
        </navMap></ncx>"#;
        let entries = read_ncx("toc.ncx", ncx);
        let got: Vec<(usize, &str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e.depth,
                    e.title.as_str(),
                    e.target.as_ref().unwrap().path.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "Part I", "p1.html"),
                (2, "Chapter One", "c1.html"),
                (1, "Index", "index.html")
            ]
        );
    }
}
