//! XHTML documents (content, nav, NCX) as one stream of events, whoever parsed them.
//!
//! A document is parsed as XML with roxmltree first. Real books are not always well-formed
//! (HTML entities such as `&nbsp;` without a DTD that declares them, unclosed `<br>`, stray
//! end tags), so when XML parsing fails the document is tokenized again by html5gum, a
//! WHATWG HTML tokenizer that accepts anything a browser does. Both give the same events, with
//! element names in lowercase and entities decoded, so the readers downstream have one code
//! path. html5gum was chosen over `tl` (unmaintained since 2023) and html5ever/scraper (a
//! full tree builder and many dependencies): it has no dependencies, forbids `unsafe`, and a
//! token stream is all the readers need. Since a tokenizer does not build a tree, the few
//! tree-building rules that matter here (void elements, end tags with no start tag, a `<p>` or
//! `<li>` closed by the next one) are applied to its tokens below.

use std::borrow::Cow;

use html5gum::{DefaultEmitter, Token, Tokenizer};
use roxmltree::Node;

/// The namespace of `epub:type`.
const OPS_NS: &str = "http://www.idpf.org/2007/ops";

/// A start tag: local name in lowercase and its attributes (`epub:type` under that name
/// whatever prefix the document bound).
#[derive(Debug, Clone, Default)]
pub(super) struct Tag {
    pub(super) name: String,
    attributes: Vec<(String, String)>,
}

impl Tag {
    pub(super) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether `epub:type` or `role` names `kind` (`role` as `doc-{kind}`).
    pub(super) fn is(&self, kind: &str) -> bool {
        let typed = self
            .attribute("epub:type")
            .is_some_and(|types| types.split_whitespace().any(|t| t == kind));
        let role = self.attribute("role").is_some_and(|roles| {
            roles
                .split_whitespace()
                .any(|r| r.strip_prefix("doc-") == Some(kind))
        });
        typed || role
    }

    /// The `epub:type` values and `doc-` roles, space-separated words.
    pub(super) fn types(&self) -> impl Iterator<Item = &str> {
        let types = self.attribute("epub:type").unwrap_or_default();
        let roles = self.attribute("role").unwrap_or_default();
        types.split_whitespace().chain(
            roles
                .split_whitespace()
                .filter_map(|r| r.strip_prefix("doc-")),
        )
    }
}

/// One event of a document.
#[derive(Debug)]
pub(super) enum Event<'t> {
    Open(Tag),
    /// Closes the innermost open element: opens and closes always pair.
    Close,
    Text(Cow<'t, str>),
}

/// Calls `each` with the events of the document `text`, parsed as XML if it is well-formed,
/// else as HTML.
pub(super) fn events(text: &str, each: &mut dyn FnMut(Event<'_>)) {
    match super::archive::parse_xml("", text) {
        Ok(doc) => xml_events(&doc, each),
        Err(_) => html_events(text, each),
    }
}

fn xml_events(doc: &roxmltree::Document<'_>, each: &mut dyn FnMut(Event<'_>)) {
    // Depth-first without recursion, so deep nesting cannot overflow the stack.
    let mut next = doc.root().first_child();
    while let Some(node) = next {
        if node.is_element() {
            each(Event::Open(xml_tag(node)));
        } else if let Some(text) = node.text().filter(|_| node.is_text()) {
            each(Event::Text(Cow::Borrowed(text)));
        }
        if let Some(child) = node.first_child() {
            next = Some(child);
            continue;
        }
        let mut done = node;
        next = loop {
            if done.is_element() {
                each(Event::Close);
            }
            if let Some(sibling) = done.next_sibling() {
                break Some(sibling);
            }
            match done.parent() {
                Some(parent) if !parent.is_root() => done = parent,
                _ => break None,
            }
        };
    }
}

fn xml_tag(node: Node<'_, '_>) -> Tag {
    let attributes = node
        .attributes()
        .filter_map(|a| match a.namespace() {
            None => Some((a.name().to_ascii_lowercase(), a.value().to_owned())),
            Some(OPS_NS) => Some((format!("epub:{}", a.name()), a.value().to_owned())),
            Some(_) => None,
        })
        .collect();
    Tag {
        name: node.tag_name().name().to_ascii_lowercase(),
        attributes,
    }
}

/// Elements that never have content or an end tag in HTML.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements whose start tag closes an open element of the same kind in the same parent (the
/// HTML parser's implied end tags that matter for reading).
fn closes_same(name: &str) -> bool {
    matches!(
        name,
        "p" | "li" | "dt" | "dd" | "tr" | "td" | "th" | "option"
    )
}

fn html_events(text: &str, each: &mut dyn FnMut(Event<'_>)) {
    let mut emitter = DefaultEmitter::default();
    emitter.naively_switch_states(true);
    // Names of the open elements, innermost last.
    let mut open: Vec<String> = Vec::new();
    for token in Tokenizer::new_with_emitter(text, emitter).flatten() {
        match token {
            Token::StartTag(start) => {
                let name = String::from_utf8_lossy(&start.name).to_ascii_lowercase();
                if closes_same(&name)
                    && let Some(at) = open.iter().rposition(|n| *n == name)
                {
                    // Only within the same parent list or table: no block opened since.
                    let inner_blocks = open[at + 1..]
                        .iter()
                        .any(|n| matches!(n.as_str(), "ul" | "ol" | "table" | "dl" | "div"));
                    if !inner_blocks {
                        for _ in at..open.len() {
                            each(Event::Close);
                        }
                        open.truncate(at);
                    }
                }
                let attributes = start
                    .attributes
                    .iter()
                    .map(|(key, value)| {
                        (
                            String::from_utf8_lossy(key).to_ascii_lowercase(),
                            String::from_utf8_lossy(value).into_owned(),
                        )
                    })
                    .collect();
                let void = start.self_closing || VOID.contains(&name.as_str());
                each(Event::Open(Tag {
                    name: name.clone(),
                    attributes,
                }));
                if void {
                    each(Event::Close);
                } else {
                    open.push(name);
                }
            }
            Token::EndTag(end) => {
                let name = String::from_utf8_lossy(&end.name).to_ascii_lowercase();
                // An end tag with no open element of its name is ignored, as browsers do.
                if let Some(at) = open.iter().rposition(|n| *n == name) {
                    for _ in at..open.len() {
                        each(Event::Close);
                    }
                    open.truncate(at);
                }
            }
            Token::String(text) => each(Event::Text(String::from_utf8_lossy(&text))),
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    for _ in 0..open.len() {
        each(Event::Close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(text: &str) -> String {
        let mut out = String::new();
        events(text, &mut |event| match event {
            Event::Open(tag) => {
                out.push('<');
                out.push_str(&tag.name);
                if let Some(t) = tag.attribute("epub:type") {
                    out.push_str(&format!(" type={t}"));
                }
                out.push('>');
            }
            Event::Close => out.push_str("</>"),
            Event::Text(text) => out.push_str(&text),
        });
        out
    }

    #[test]
    fn xml_and_html_give_the_same_events() {
        let xml = r#"<html xmlns="http://www.w3.org/1999/xhtml" xmlns:e="http://www.idpf.org/2007/ops"><body><p e:type="x">a&amp;b<br/>c</p></body></html>"#;
        assert_eq!(trace(xml), "<html><body><p type=x>a&b<br></>c</></></>");
        let html = r#"<html><body><p epub:type="x">a&amp;b<br>c</p></body></html>"#;
        assert_eq!(trace(html), trace(xml));
    }

    #[test]
    fn html_entities_and_tag_soup_are_recovered() {
        let soup = "<body><p>one&nbsp;two<p>three</i></body>";
        assert_eq!(trace(soup), "<body><p>one\u{a0}two</><p>three</></>");
        let lists = "<ol><li>a<li>b<ol><li>c</ol></ol>";
        assert_eq!(trace(lists), "<ol><li>a</><li>b<ol><li>c</></></></>");
    }
}
