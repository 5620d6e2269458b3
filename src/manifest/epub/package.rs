//! The package: `META-INF/container.xml` names the package document (OPF), which holds the
//! book's metadata, its manifest of files, the spine (reading order) and, in EPUB 2 books, the
//! `<guide>`. Both are XML and parsed with roxmltree; a package that is not well-formed XML
//! cannot be recovered, so it is an error.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::EpubError;
use super::archive::{self, Archive, Target, parse_xml};

/// One file of the package manifest.
#[derive(Debug, Clone)]
pub(super) struct ManifestItem {
    /// Resolved path in the archive.
    pub(super) path: String,
    pub(super) media_type: String,
    /// Space-separated `properties` (`nav`, `cover-image`, ...).
    pub(super) properties: String,
}

impl ManifestItem {
    pub(super) fn has_property(&self, property: &str) -> bool {
        self.properties.split_whitespace().any(|p| p == property)
    }
}

/// One entry of the spine.
#[derive(Debug, Clone)]
pub(super) struct SpineEntry {
    pub(super) idref: String,
    /// `linear="no"`: outside the main reading order (notes, a cover image page).
    pub(super) linear: bool,
}

/// What the package document says.
#[derive(Debug, Default)]
pub(super) struct Package {
    /// The package document's own path.
    pub(super) path: String,
    pub(super) title: Option<String>,
    pub(super) authors: Vec<String>,
    pub(super) language: Option<String>,
    /// What the book says about itself besides its title and authors (description, series,
    /// publisher, date, identifiers, narrators).
    pub(super) about: About,
    /// Manifest id of the cover image (EPUB 3 `cover-image`, EPUB 2 `<meta name="cover">`).
    pub(super) cover_id: Option<String>,
    pub(super) manifest: HashMap<String, ManifestItem>,
    pub(super) spine: Vec<SpineEntry>,
    /// The spine's `toc` attribute: the NCX's manifest id.
    pub(super) ncx_id: Option<String>,
    /// OPF `<guide>` references: (type, target).
    pub(super) guide: Vec<(String, Target)>,
}

/// The package's metadata that the audiobook's tags and sidecar files carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct About {
    /// `dc:description` as plain text (calibre stores HTML in it): paragraphs kept.
    pub description: Option<String>,
    /// calibre's `calibre:series`, else the EPUB 3 `belongs-to-collection` of type series.
    pub series: Option<String>,
    /// `calibre:series_index` or `group-position`, as written (`2`, `1.5`).
    pub series_index: Option<String>,
    pub publisher: Option<String>,
    /// `dc:date`, as written (`1886`, `2008-06-27`).
    pub date: Option<String>,
    /// The package's unique identifier (`dc:identifier` it names), else the first one.
    pub identifier: Option<String>,
    /// The first identifier that is an ISBN (by `opf:scheme`, a `urn:isbn:` prefix or its
    /// check digit), digits only.
    pub isbn: Option<String>,
    /// `dc:creator`s with the role `nrt`.
    pub narrators: Vec<String>,
}

/// Reads the container and the package document it names.
pub(super) fn read(archive: &mut Archive<'_>) -> Result<Package, EpubError> {
    const CONTAINER: &str = "META-INF/container.xml";
    let container = archive.read(CONTAINER)?.ok_or(EpubError::NoContainer)?;
    let container = super::decode::decode(CONTAINER, &container);
    let doc = parse_xml(CONTAINER, &container)?;
    let rootfiles: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rootfile")
        .collect();
    let rootfile = rootfiles
        .iter()
        .find(|n| n.attribute("media-type") == Some("application/oebps-package+xml"))
        .or_else(|| rootfiles.first())
        .and_then(|n| n.attribute("full-path"))
        .ok_or_else(|| EpubError::NoPackage("container.xml names no rootfile".into()))?;
    let path = archive::resolve("", rootfile)?
        .map(|t| t.path)
        .ok_or_else(|| EpubError::NoPackage(format!("`{rootfile}` is not in the book")))?;
    let bytes = archive
        .read(&path)?
        .ok_or_else(|| EpubError::NoPackage(format!("`{path}` is not in the archive")))?;
    let text = super::decode::decode(&path, &bytes);
    let doc = parse_xml(&path, &text)?;
    parse_package(path, &doc)
}

fn parse_package(path: String, doc: &Document<'_>) -> Result<Package, EpubError> {
    let base = archive::directory(&path).to_owned();
    let mut package = Package {
        path,
        ..Package::default()
    };
    let root = doc.root_element();

    if let Some(metadata) = child(&root, "metadata") {
        read_metadata(metadata, &mut package);
        package.about = read_about(metadata, root.attribute("unique-identifier"));
    }
    if let Some(manifest) = child(&root, "manifest") {
        for item in manifest.children().filter(|n| n.has_tag_name_local("item")) {
            let (Some(id), Some(href)) = (item.attribute("id"), item.attribute("href")) else {
                continue;
            };
            let Some(target) = archive::resolve(&base, href)? else {
                continue;
            };
            package.manifest.insert(
                id.to_owned(),
                ManifestItem {
                    path: target.path,
                    media_type: item.attribute("media-type").unwrap_or_default().to_owned(),
                    properties: item.attribute("properties").unwrap_or_default().to_owned(),
                },
            );
        }
    }
    if let Some(spine) = child(&root, "spine") {
        package.ncx_id = spine.attribute("toc").map(str::to_owned);
        package.spine = spine
            .children()
            .filter(|n| n.has_tag_name_local("itemref"))
            .filter_map(|n| {
                Some(SpineEntry {
                    idref: n.attribute("idref")?.to_owned(),
                    linear: n.attribute("linear") != Some("no"),
                })
            })
            .collect();
    }
    if let Some(guide) = child(&root, "guide") {
        for reference in guide
            .children()
            .filter(|n| n.has_tag_name_local("reference"))
        {
            let (Some(kind), Some(href)) =
                (reference.attribute("type"), reference.attribute("href"))
            else {
                continue;
            };
            // A guide entry that points outside the book is no reason to refuse it.
            if let Ok(Some(target)) = archive::resolve(&base, href) {
                package.guide.push((kind.to_lowercase(), target));
            }
        }
    }
    if package.cover_id.is_none() {
        package.cover_id = package
            .manifest
            .iter()
            .find(|(_, item)| item.has_property("cover-image"))
            .map(|(id, _)| id.clone());
    }
    Ok(package)
}

/// The first child element of `node` named `name`.
fn child<'a, 'i>(node: &Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name_local(name))
}

trait LocalName {
    fn has_tag_name_local(&self, name: &str) -> bool;
}

impl LocalName for Node<'_, '_> {
    fn has_tag_name_local(&self, name: &str) -> bool {
        self.is_element() && self.tag_name().name() == name
    }
}

fn read_metadata(metadata: Node<'_, '_>, package: &mut Package) {
    // EPUB 3 refines a creator's role and a title's type with <meta refines="#id">.
    let mut refinements: HashMap<(String, String), String> = HashMap::new();
    for meta in metadata
        .descendants()
        .filter(|n| n.has_tag_name_local("meta"))
    {
        if let (Some(refines), Some(property)) =
            (meta.attribute("refines"), meta.attribute("property"))
        {
            let id = refines.trim_start_matches('#').to_owned();
            refinements.insert((id, property.to_owned()), collapse(&text_of(meta)));
        }
        if meta.attribute("name") == Some("cover")
            && let Some(content) = meta.attribute("content")
        {
            package.cover_id = Some(content.trim().to_owned());
        }
    }
    let refined = |node: Node<'_, '_>, property: &str| {
        node.attribute("id")
            .and_then(|id| refinements.get(&(id.to_owned(), property.to_owned())))
            .cloned()
    };

    let mut titles = Vec::new();
    let mut creators = Vec::new();
    for node in metadata.descendants().filter(|n| n.is_element()) {
        let is_dc = node.tag_name().namespace() == Some("http://purl.org/dc/elements/1.1/");
        if !is_dc {
            continue;
        }
        let text = collapse(&text_of(node));
        if text.is_empty() {
            continue;
        }
        match node.tag_name().name() {
            "title" => titles.push((refined(node, "title-type"), text)),
            "creator" => {
                let role = node
                    .attributes()
                    .find(|a| a.name() == "role")
                    .map(|a| a.value().to_owned())
                    .or_else(|| refined(node, "role"));
                creators.push((role, text));
            }
            "language" if package.language.is_none() => package.language = Some(text),
            _ => {}
        }
    }
    package.title = titles
        .iter()
        .find(|(kind, _)| kind.as_deref() == Some("main"))
        .or_else(|| titles.first())
        .map(|(_, title)| title.clone());
    // Authors are the creators whose role is author or unstated; if every creator has another
    // role (an editor, say), they all stand in.
    let authors: Vec<String> = creators
        .iter()
        .filter(|(role, _)| role.as_deref().is_none_or(|r| r == "aut"))
        .map(|(_, name)| name.clone())
        .collect();
    package.authors = if authors.is_empty() {
        creators.into_iter().map(|(_, name)| name).collect()
    } else {
        authors
    };
}

/// Description, series, publisher, date, identifiers and narrators. `unique_id` is the
/// package's `unique-identifier` attribute.
fn read_about(metadata: Node<'_, '_>, unique_id: Option<&str>) -> About {
    let mut about = About::default();
    let mut refinements: HashMap<(String, String), String> = HashMap::new();
    let mut collections: Vec<(Option<String>, String)> = Vec::new();
    let (mut calibre_series, mut calibre_index) = (None, None);
    let metas = metadata
        .descendants()
        .filter(|n| n.has_tag_name_local("meta"));
    for meta in metas.clone() {
        if let (Some(refines), Some(property)) =
            (meta.attribute("refines"), meta.attribute("property"))
        {
            let id = refines.trim_start_matches('#').to_owned();
            refinements.insert((id, property.to_owned()), collapse(&text_of(meta)));
        }
        let content = || {
            meta.attribute("content")
                .map(collapse)
                .filter(|c| !c.is_empty())
        };
        match meta.attribute("name") {
            Some("calibre:series") if calibre_series.is_none() => calibre_series = content(),
            Some("calibre:series_index") if calibre_index.is_none() => calibre_index = content(),
            _ => {}
        }
    }
    for meta in metas {
        if meta.attribute("property") == Some("belongs-to-collection") {
            let name = collapse(&text_of(meta));
            if !name.is_empty() {
                collections.push((meta.attribute("id").map(str::to_owned), name));
            }
        }
    }
    let refined = |id: Option<&str>, property: &str| {
        id.and_then(|id| refinements.get(&(id.to_owned(), property.to_owned())))
            .cloned()
    };
    if let Some(name) = calibre_series {
        about.series = Some(name);
        about.series_index = calibre_index;
    } else if let Some((id, name)) = collections
        .iter()
        .find(|(id, _)| refined(id.as_deref(), "collection-type").as_deref() == Some("series"))
        .or_else(|| {
            // A collection of no stated type is taken as the series; a `set` is not one.
            collections
                .iter()
                .find(|(id, _)| refined(id.as_deref(), "collection-type").is_none())
        })
    {
        about.series = Some(name.clone());
        about.series_index = refined(id.as_deref(), "group-position");
    }

    let mut identifiers: Vec<(bool, Option<String>, String)> = Vec::new();
    for node in metadata.descendants().filter(|n| n.is_element()) {
        if node.tag_name().namespace() != Some("http://purl.org/dc/elements/1.1/") {
            continue;
        }
        let raw = text_of(node);
        let text = collapse(&raw);
        if text.is_empty() {
            continue;
        }
        match node.tag_name().name() {
            "description" if about.description.is_none() => {
                // Sphinx writes "unknown" when the project sets no description.
                about.description = Some(plain_text(&raw))
                    .filter(|d| !d.is_empty() && !d.eq_ignore_ascii_case("unknown"));
            }
            "publisher" if about.publisher.is_none() => about.publisher = Some(text),
            "date" if about.date.is_none() => about.date = Some(text),
            "identifier" => {
                let scheme = node
                    .attributes()
                    .find(|a| a.name() == "scheme")
                    .map(|a| a.value().to_owned())
                    .or_else(|| refined(node.attribute("id"), "identifier-type"));
                let unique = unique_id.is_some() && node.attribute("id") == unique_id;
                identifiers.push((unique, scheme, text));
            }
            "creator" => {
                let role = node
                    .attributes()
                    .find(|a| a.name() == "role")
                    .map(|a| a.value().to_owned())
                    .or_else(|| refined(node.attribute("id"), "role"));
                if role.as_deref() == Some("nrt") {
                    about.narrators.push(text);
                }
            }
            _ => {}
        }
    }
    about.identifier = identifiers
        .iter()
        .find(|(unique, _, _)| *unique)
        .or_else(|| identifiers.first())
        .map(|(_, _, value)| value.clone());
    about.isbn = identifiers.iter().find_map(|(_, scheme, value)| {
        let by_scheme = scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("isbn") || s == "15");
        isbn(value, by_scheme)
    });
    about
}

/// The ISBN in an identifier, digits (and a final `X`) only: one whose scheme says ISBN, or
/// one written `urn:isbn:...`/`isbn:...`, or ten or thirteen digits whose check digit holds.
pub(super) fn isbn(value: &str, by_scheme: bool) -> Option<String> {
    let lower = value.trim().to_ascii_lowercase();
    let (stated, rest) = match lower
        .strip_prefix("urn:isbn:")
        .or_else(|| lower.strip_prefix("isbn:"))
    {
        Some(rest) => (true, rest),
        None => (by_scheme, lower.as_str()),
    };
    if rest
        .chars()
        .any(|c| !(c.is_ascii_digit() || matches!(c, '-' | ' ' | 'x')))
    {
        return None;
    }
    let digits: String = rest
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'x')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let valid = match digits.len() {
        10 => {
            let sum: u32 = digits.chars().enumerate().try_fold(0u32, |sum, (i, c)| {
                let d = if c == 'X' && i == 9 {
                    10
                } else {
                    c.to_digit(10)?
                };
                Some(sum + d * (10 - i as u32))
            })?;
            sum.is_multiple_of(11)
        }
        13 if !digits.contains('X') => {
            let sum: u32 = digits
                .chars()
                .enumerate()
                .filter_map(|(i, c)| Some(c.to_digit(10)? * if i % 2 == 0 { 1 } else { 3 }))
                .sum();
            sum.is_multiple_of(10)
        }
        _ => false,
    };
    (valid || (stated && matches!(digits.len(), 10 | 13))).then_some(digits)
}

/// Plain text of an HTML description (calibre keeps the book's blurb as HTML, escaped or
/// not): tags dropped, entities decoded, each block (paragraph, line break, list item) a line
/// of its own, blank lines between paragraphs.
pub(super) fn plain_text(html: &str) -> String {
    use html5gum::{Token, Tokenizer};
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let end_block = |current: &mut String, paragraphs: &mut Vec<String>| {
        let text = collapse(current);
        if !text.is_empty() {
            paragraphs.push(text);
        }
        current.clear();
    };
    for token in Tokenizer::new(html).flatten() {
        match token {
            Token::StartTag(html5gum::StartTag { name, .. })
            | Token::EndTag(html5gum::EndTag { name, .. })
                if is_block(&String::from_utf8_lossy(&name)) =>
            {
                end_block(&mut current, &mut paragraphs);
            }
            Token::String(text) => current.push_str(&String::from_utf8_lossy(&text)),
            _ => {}
        }
    }
    end_block(&mut current, &mut paragraphs);
    paragraphs.join("\n\n")
}

fn is_block(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "p" | "div" | "br" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "tr"
    )
}

/// All text inside `node`.
fn text_of(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// `text` with whitespace runs as one space, trimmed.
pub(super) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod about_tests {
    use super::*;

    fn about(opf: &str) -> About {
        let doc = Document::parse(opf).unwrap();
        let root = doc.root_element();
        let metadata = child(&root, "metadata").unwrap();
        read_about(metadata, root.attribute("unique-identifier"))
    }

    #[test]
    fn calibre_series_description_publisher_date_isbn_narrator() {
        let a = about(
            r##"<package xmlns="http://www.idpf.org/2007/opf" xmlns:opf="http://www.idpf.org/2007/opf" unique-identifier="uid" version="2.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:1234</dc:identifier>
    <dc:identifier opf:scheme="ISBN">978-0-14-143976-1</dc:identifier>
    <dc:creator opf:role="aut">Lewis Carroll</dc:creator>
    <dc:creator opf:role="nrt">Ann Reader</dc:creator>
    <dc:description>&lt;div&gt;&lt;p&gt;A girl &amp;amp; a   rabbit.&lt;/p&gt;&lt;p&gt;Second.&lt;/p&gt;&lt;/div&gt;</dc:description>
    <dc:publisher>Macmillan</dc:publisher>
    <dc:date>1865-11-26T00:00:00+00:00</dc:date>
    <meta name="calibre:series" content="Alice"/>
    <meta name="calibre:series_index" content="1.0"/>
  </metadata>
</package>"##,
        );
        assert_eq!(
            a.description.as_deref(),
            Some("A girl & a rabbit.\n\nSecond.")
        );
        assert_eq!(a.series.as_deref(), Some("Alice"));
        assert_eq!(a.series_index.as_deref(), Some("1.0"));
        assert_eq!(a.publisher.as_deref(), Some("Macmillan"));
        assert_eq!(a.date.as_deref(), Some("1865-11-26T00:00:00+00:00"));
        assert_eq!(a.identifier.as_deref(), Some("urn:uuid:1234"));
        assert_eq!(a.isbn.as_deref(), Some("9780141439761"));
        assert_eq!(a.narrators, ["Ann Reader"]);
    }

    #[test]
    fn sphinx_placeholder_description_is_no_description() {
        let a = about(
            r##"<package xmlns="http://www.idpf.org/2007/opf" unique-identifier="id" version="3.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="id">unknown</dc:identifier>
    <dc:description>unknown</dc:description>
  </metadata>
</package>"##,
        );
        assert_eq!(a.description, None);
    }

    #[test]
    fn epub3_collection_and_refined_narrator() {
        let a = about(
            r##"<package xmlns="http://www.idpf.org/2007/opf" unique-identifier="pub-id" version="3.0">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="pub-id">urn:isbn:0306406152</dc:identifier>
    <dc:creator id="c1">Ann Reader</dc:creator>
    <meta refines="#c1" property="role" scheme="marc:relators">nrt</meta>
    <meta property="belongs-to-collection" id="set">Boxed Set</meta>
    <meta refines="#set" property="collection-type">set</meta>
    <meta property="belongs-to-collection" id="c01">The Saga</meta>
    <meta refines="#c01" property="collection-type">series</meta>
    <meta refines="#c01" property="group-position">2</meta>
  </metadata>
</package>"##,
        );
        assert_eq!(a.series.as_deref(), Some("The Saga"));
        assert_eq!(a.series_index.as_deref(), Some("2"));
        assert_eq!(a.narrators, ["Ann Reader"]);
        assert_eq!(a.identifier.as_deref(), Some("urn:isbn:0306406152"));
        assert_eq!(a.isbn.as_deref(), Some("0306406152"));
    }

    #[test]
    fn isbn_only_where_it_is_one() {
        assert_eq!(
            isbn("9780141439761", false).as_deref(),
            Some("9780141439761")
        );
        assert_eq!(isbn("9780141439762", false), None, "bad check digit");
        assert_eq!(isbn("urn:uuid:9780141439761", false), None);
        assert_eq!(isbn("080442957X", false).as_deref(), Some("080442957X"));
        assert_eq!(isbn("12345", true), None);
    }
}
