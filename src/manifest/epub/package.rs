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
    /// Manifest id of the cover image (EPUB 3 `cover-image`, EPUB 2 `<meta name="cover">`).
    pub(super) cover_id: Option<String>,
    pub(super) manifest: HashMap<String, ManifestItem>,
    pub(super) spine: Vec<SpineEntry>,
    /// The spine's `toc` attribute: the NCX's manifest id.
    pub(super) ncx_id: Option<String>,
    /// OPF `<guide>` references: (type, target).
    pub(super) guide: Vec<(String, Target)>,
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
